// The app: session state, the hash router and the navigation. boot.ts imports this module
// (from the CDN edge or the origin) and calls start(); importing it has no side effects.
import { Api, describe, type Photo, type User, type Versioned } from "./api";
import { Cdn, type CdnConfig } from "./cdn";
import { append, clear, h, say } from "./dom";
import { logInView, signUpView } from "./views/auth";
import { directoryView } from "./views/directory";
import { photoView } from "./views/editor";
import { myPhotosView } from "./views/photos";
import { profileView } from "./views/profile";

export interface AppModule {
  start(config: CdnConfig): void;
}

// What every view may use.
export interface Ctx {
  api: Api;
  cdn: Cdn;
  me: User | null; // the logged-in user
  main: HTMLElement;
  status(text: string): void; // announced politely
  alert(text: string): void; // an error not tied to one form ("" hides it)
  go(hash: string): void;
  setMe(user: User | null): void;
  // Write answers, newer than what a CDN edge may still serve for a moment after the write.
  latest: Map<number, Versioned<User>>;
  uploads: SessionPhotos;
}

// Photos uploaded or made in this browser session, by owner: shown in the gallery even before
// a (possibly stale) listing has them.
export class SessionPhotos {
  private key(owner: number) {
    return `ztm.photos.${owner}`;
  }
  list(owner: number): Photo[] {
    try {
      return JSON.parse(sessionStorage.getItem(this.key(owner)) ?? "[]") as Photo[];
    } catch {
      return [];
    }
  }
  add(photo: Photo): void {
    const all = this.list(photo.ownerId).filter((p) => p.id !== photo.id);
    all.unshift(photo);
    try {
      sessionStorage.setItem(this.key(photo.ownerId), JSON.stringify(all.slice(0, 200)));
    } catch {
      // storage full or off: the gallery shows the listing only
    }
  }
}

type View = (ctx: Ctx, params: Record<string, string>) => void | Promise<void>;

// The routes, in the order they are tried: #/users/12 -> profileView with {id: "12"}.
const ROUTES: Array<[RegExp, View, string[]]> = [
  [/^\/?$/, directoryView, []],
  [/^\/users$/, directoryView, []],
  [/^\/users\/(\d+)$/, profileView, ["id"]],
  [/^\/photos$/, myPhotosView, []],
  [/^\/photos\/(\d+)$/, photoView, ["id"]],
  [/^\/login$/, logInView, []],
  [/^\/signup$/, signUpView, []],
];

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}

export function start(config: CdnConfig): void {
  const cdn = new Cdn(config);
  const main = byId("main");
  const nav = byId("nav");
  const statusEl = byId("status");
  const alertEl = byId("alert");
  const footer = h("footer", { class: "cdn" });
  let statusAt = 0; // when the status line was last set
  document.body.appendChild(footer);

  const ctx: Ctx = {
    api: new Api(cdn),
    cdn,
    me: null,
    main,
    status: (text) => {
      statusAt = Date.now();
      say(statusEl, text);
    },
    alert: (text) => say(alertEl, text),
    go: (hash) => {
      if (location.hash === hash) void render(false);
      else location.hash = hash;
    },
    setMe: (user) => {
      ctx.me = user;
      renderNav();
    },
    latest: new Map(),
    uploads: new SessionPhotos(),
  };

  function renderNav(): void {
    clear(nav);
    const link = (href: string, text: string) => h("a", { href }, text);
    const items: Node[] = [link("#/users", "Directory")];
    if (ctx.me) {
      items.push(link(`#/users/${ctx.me.id}`, "My profile"), link("#/photos", "My photos"));
      const out = h("button", { type: "button", class: "link" }, "Log out");
      out.addEventListener("click", () => void logOut());
      items.push(out);
      items.push(h("span", { class: "who" }, `${ctx.me.firstName} ${ctx.me.lastName}`));
    } else {
      items.push(link("#/login", "Log in"), link("#/signup", "Sign up"));
    }
    append(nav, ...items);
  }

  function renderFooter(): void {
    const s = cdn.state();
    footer.dataset.edge = s;
    footer.textContent =
      s === "none"
        ? "Served by the origin (no CDN)."
        : s === "up"
          ? `Content from CDN edge ${cdn.edge?.name}.`
          : `CDN edge ${cdn.edge?.name} is unreachable: content comes from the origin.`;
  }

  async function logOut(): Promise<void> {
    try {
      await ctx.api.logOut();
      ctx.setMe(null);
      ctx.status("You are logged out.");
      ctx.go("#/login");
    } catch (e) {
      ctx.alert(describe(e));
    }
  }

  async function render(focus: boolean): Promise<void> {
    const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
    const params: Record<string, string> = Object.fromEntries(new URLSearchParams(query));
    ctx.alert("");
    // A status from before this navigation is stale (one set just before it, e.g. "Logged
    // in", is about it and stays).
    if (Date.now() - statusAt > 1500) say(statusEl, "");
    clear(main);
    for (const [re, view, names] of ROUTES) {
      const m = re.exec(path);
      if (!m) continue;
      names.forEach((n, i) => (params[n] = m[i + 1]));
      try {
        await view(ctx, params);
      } catch (e) {
        ctx.alert(describe(e));
      }
      if (focus) main.querySelector<HTMLElement>("h1")?.focus();
      return;
    }
    append(
      main,
      h("h1", { tabindex: -1 }, "Not found"),
      h("p", {}, "No page here. ", h("a", { href: "#/" }, "Go to the directory")),
    );
  }

  cdn.onChange(renderFooter);
  renderFooter();
  renderNav();
  window.addEventListener("hashchange", () => void render(true));
  void (async () => {
    try {
      ctx.setMe(await ctx.api.me());
    } catch (e) {
      ctx.alert(describe(e));
    }
    await render(false);
  })();
}
