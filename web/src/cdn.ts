// The CDN edge and the fallback to the origin (docs/cdn.md, "The browser client's fallback to
// the origin"). The page itself always comes from the origin; GET /cdn.json names the edges.
// Public reads, the app's code and styles, and images go to the preferred edge while it works;
// a network error, a timeout or a 5xx marks it down for 30 s (in sessionStorage, so a reload or
// another tab of this session skips it too) and the same request goes to the origin at once.
// After the 30 s one GET /.ztm/ping decides whether to use the edge again. The user never acts.

export interface Edge {
  name: string;
  url: string; // scheme://host[:port], no trailing slash
}

export interface CdnConfig {
  edges: Edge[];
  preferred: string | null;
}

export const EDGE_TIMEOUT_MS = 1500;
export const EDGE_DOWN_MS = 30_000;
// An image may be large: it gets twice the edge timeout before it is fetched from the origin.
const IMAGE_TIMEOUT_MS = 2 * EDGE_TIMEOUT_MS;

const NO_CDN: CdnConfig = { edges: [], preferred: null };

// GET /cdn.json from the origin; no CDN when it is missing or malformed (an older origin).
export async function loadCdnConfig(): Promise<CdnConfig> {
  try {
    const res = await fetch("/cdn.json", { cache: "no-cache" });
    if (!res.ok) return NO_CDN;
    const body = (await res.json()) as Partial<CdnConfig>;
    const edges = Array.isArray(body.edges)
      ? body.edges.filter(
          (e): e is Edge => typeof e?.name === "string" && typeof e?.url === "string",
        )
      : [];
    return { edges, preferred: typeof body.preferred === "string" ? body.preferred : null };
  } catch {
    return NO_CDN;
  }
}

// fetch() that gives up (AbortError) when the answer's headers take longer than `ms`.
export async function fetchWithin(url: string, init: RequestInit, ms: number): Promise<Response> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
}

// A promise that rejects after `ms` unless `p` settles first.
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export type EdgeState = "none" | "up" | "down";

export class Cdn {
  readonly edge: Edge | null;
  private probing: Promise<boolean> | null = null;
  // The down mark when there is no sessionStorage (this page only).
  private downInMemory = 0;
  private listeners: Array<() => void> = [];

  constructor(
    config: CdnConfig,
    private readonly store: Pick<
      Storage,
      "getItem" | "setItem" | "removeItem"
    > | null = safeStorage(),
    private readonly now: () => number = Date.now,
  ) {
    this.edge = config.edges.find((e) => e.name === config.preferred) ?? null;
  }

  state(): EdgeState {
    if (!this.edge) return "none";
    return this.downUntil() > this.now() ? "down" : "up";
  }

  onChange(f: () => void): void {
    this.listeners.push(f);
  }

  // Marks the edge down for EDGE_DOWN_MS: every request until then goes to the origin.
  markDown(reason: string): void {
    if (!this.edge) return;
    const wasUp = this.state() === "up";
    this.setDownUntil(this.now() + EDGE_DOWN_MS);
    if (wasUp) {
      console.warn(
        `cdn: edge ${this.edge.name} marked down for ${EDGE_DOWN_MS / 1000} s: ${reason}`,
      );
      this.changed();
    }
  }

  // The edge's base URL when requests should go to it now, else null. Past a down period,
  // one GET /.ztm/ping (shared by concurrent callers) decides.
  async base(): Promise<string | null> {
    if (!this.edge) return null;
    const until = this.downUntil();
    if (until === 0) return this.edge.url;
    if (until > this.now()) return null;
    this.probing ??= this.ping().finally(() => (this.probing = null));
    return (await this.probing) ? this.edge.url : null;
  }

  // The edge's base URL without waiting for a probe (for <img src> and <link href>).
  baseNow(): string | null {
    return this.edge && this.state() === "up" ? this.edge.url : null;
  }

  // A public read: the edge first, the origin when the edge fails. A 4xx from the edge is an
  // answer (the origin would say the same). No custom headers: they would need a preflight.
  async fetch(path: string): Promise<Response> {
    const base = await this.base();
    if (base) {
      try {
        const res = await fetchWithin(
          base + path,
          { mode: "cors", credentials: "omit" },
          EDGE_TIMEOUT_MS,
        );
        if (res.status < 500) return res;
        this.markDown(`GET ${path}: HTTP ${res.status}`);
      } catch (e) {
        this.markDown(`GET ${path}: ${(e as Error).name === "AbortError" ? "timeout" : String(e)}`);
      }
    }
    return fetch(path, { credentials: "same-origin" });
  }

  // import() of a content-hashed module: from the edge, else from the origin.
  async importModule<T>(path: string): Promise<T> {
    const base = await this.base();
    if (base) {
      try {
        return await within(import(base + path) as Promise<T>, EDGE_TIMEOUT_MS, base + path);
      } catch (e) {
        this.markDown(`import ${path}: ${String(e)}`);
      }
    }
    return (await import(path)) as T;
  }

  // Points an <img> at `path` on the edge; on an error, or no image within the timeout, at the
  // origin. An error only makes the edge suspect (an image's status is not visible): a ping
  // decides whether it is down.
  image(img: HTMLImageElement, path: string): void {
    const base = this.baseNow();
    if (!base) {
      img.src = path;
      return;
    }
    onFailure(img, IMAGE_TIMEOUT_MS, (why) => {
      if (why === "error") void this.suspect();
      img.removeAttribute("crossorigin");
      img.src = path;
    });
    // CORS without credentials: the session cookie (host-only, but a cookie ignores ports)
    // never goes to an edge, which would pass such a request uncached.
    img.crossOrigin = "anonymous";
    img.src = base + path;
  }

  // A stylesheet from the edge, swapped to the origin on an error or a timeout.
  stylesheet(path: string): HTMLLinkElement {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    const base = this.baseNow();
    if (!base) {
      link.href = path;
      return link;
    }
    onFailure(link, EDGE_TIMEOUT_MS, (why) => {
      this.markDown(`stylesheet ${path}: ${why}`);
      link.removeAttribute("crossorigin");
      link.href = path;
    });
    link.crossOrigin = "anonymous";
    link.href = base + path;
    return link;
  }

  // Pings the edge now; marks it down when the ping fails.
  async suspect(): Promise<void> {
    if (this.state() === "up") await this.ping();
  }

  // GET /.ztm/ping on the edge: true (and the edge up again) on a 2xx within the timeout.
  private async ping(): Promise<boolean> {
    if (!this.edge) return false;
    try {
      const res = await fetchWithin(
        `${this.edge.url}/.ztm/ping`,
        { mode: "cors", credentials: "omit", cache: "no-store" },
        EDGE_TIMEOUT_MS,
      );
      if (res.ok) {
        const wasDown = this.downUntil() !== 0;
        this.setDownUntil(0);
        if (wasDown) this.changed();
        return true;
      }
      this.markDown(`ping: HTTP ${res.status}`);
    } catch (e) {
      this.markDown(`ping: ${String(e)}`);
    }
    return false;
  }

  private key(): string {
    return `ztm.edgeDown.${this.edge?.url ?? ""}`;
  }

  private downUntil(): number {
    const v = Number(this.store?.getItem(this.key()) ?? this.downInMemory);
    return Number.isFinite(v) ? v : 0;
  }

  private setDownUntil(t: number): void {
    this.downInMemory = t;
    try {
      if (t === 0) this.store?.removeItem(this.key());
      else this.store?.setItem(this.key(), String(t));
    } catch {
      // storage full or refused: this page still remembers
    }
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }
}

// Calls `fallback` once if `el` (an <img> or <link> about to load) fires `error`, or no `load`
// within `ms`.
function onFailure(
  el: HTMLElement,
  ms: number,
  fallback: (why: "error" | "timeout") => void,
): void {
  let settled = false;
  const settle = (why?: "error" | "timeout") => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (why) fallback(why);
  };
  const timer = setTimeout(() => settle("timeout"), ms);
  el.addEventListener("error", () => settle("error"), { once: true });
  el.addEventListener("load", () => settle(), { once: true });
}

// sessionStorage, or null where it is unavailable (some privacy modes throw on access).
function safeStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
