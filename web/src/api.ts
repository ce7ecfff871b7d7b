// The service's HTTP API (src/api/*.cc), one function per route. Writes, sessions, /me, uploads
// and jobs go to the origin (same-origin fetch: the HttpOnly ztm_session cookie travels by
// itself); public reads go through the CDN (cdn.ts). Every failure is an ApiError whose
// message says what went wrong in words.
import type { Cdn } from "./cdn";

export interface Address {
  streetAddress: string;
  city: string;
  state: string;
  postalCode: number;
}

export interface Profile {
  firstName: string;
  lastName: string;
  address: Address;
  phoneNumbers: string[];
}

export interface User extends Profile {
  id: number;
  followers?: number; // read-only: GET /users/{id} and a write's answer carry them
  following?: number;
}

export interface Photo {
  id: number;
  ownerId: number;
  contentType: string;
  width: number;
  height: number;
  bytes: number;
  url: string; // /media/<key>
  sourceId: number | null;
}

export type Operation =
  | { op: "crop"; x: number; y: number; width: number; height: number }
  | { op: "sharpen"; sigma: number }
  | { op: "blur"; sigma: number };

export interface Job {
  id: number;
  photoId: number;
  status: "queued" | "running" | "done" | "failed";
  attempts: number;
  result: Photo | null;
  error: string | null;
}

export interface Page<T> {
  items: T[];
  next: string | null; // the path of the next page
}

// A user and the version it was read or written at (the ETag, for If-Match).
export interface Versioned<T> {
  value: T;
  etag: string | null;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number, // 0: no answer (network)
    readonly code: string,
  ) {
    super(message);
  }
}

// The error of a non-2xx answer: {"error":{"code","message"}} when the service sent it.
export async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = `the server answered ${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = body.error.message;
    if (body.error?.code) code = body.error.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message, res.status, code);
}

// What to tell the user about any failure.
export function describe(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return e.message;
    const advice: Record<number, string> = {
      401: " Log in and try again.",
      403: " You may change only your own profile and photos.",
      429: " Wait a moment and try again.",
      503: " The service is busy or partly down; try again in a moment.",
    };
    return `${capitalise(e.message)} (HTTP ${e.status}).${advice[e.status] ?? ""}`;
  }
  if (e instanceof Error) return e.message;
  return `Something went wrong: ${String(e)}`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const NETWORK =
  "The server could not be reached (network error). Check your connection and try again.";

async function send(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  cache: RequestCache = "default",
): Promise<Response> {
  const init: RequestInit = { method, cache, credentials: "same-origin", headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(NETWORK, 0, "network");
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

async function readJson<T>(res: Response): Promise<T> {
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError("the server's answer was not valid JSON", res.status, "bad_json");
  }
}

export class Api {
  constructor(private readonly cdn: Cdn) {}

  // Public reads, through the CDN.
  private async read<T>(path: string): Promise<{ value: T; res: Response }> {
    let res: Response;
    try {
      res = await this.cdn.fetch(path);
    } catch {
      throw new ApiError(NETWORK, 0, "network");
    }
    if (!res.ok) throw await errorOf(res);
    return { value: await readJson<T>(res), res };
  }

  async users(path: string): Promise<Page<User>> {
    const { value } = await this.read<{ users: User[]; next: string | null }>(path);
    return { items: value.users, next: value.next };
  }

  async user(id: number): Promise<Versioned<User>> {
    const { value, res } = await this.read<User>(`/users/${id}`);
    return { value, etag: res.headers.get("ETag") };
  }

  async photos(path: string): Promise<Page<Photo>> {
    const { value } = await this.read<{ photos: Photo[]; next: string | null }>(path);
    return { items: value.photos, next: value.next };
  }

  async photo(id: number): Promise<Photo> {
    return (await this.read<Photo>(`/photos/${id}`)).value;
  }

  // The origin's copy (after a conflict the edge may not have the newest yet).
  async userFromOrigin(id: number): Promise<Versioned<User>> {
    const res = await send("GET", `/users/${id}`, undefined, {}, "no-cache");
    return { value: await readJson<User>(res), etag: res.headers.get("ETag") };
  }

  // Sessions and writes, at the origin.
  async signUp(email: string, password: string, profile: Profile): Promise<User> {
    const res = await send("POST", "/accounts", { email, password, profile });
    return (await readJson<{ user: User }>(res)).user;
  }

  async logIn(email: string, password: string): Promise<number> {
    const res = await send("POST", "/sessions", { email, password });
    return (await readJson<{ user_id: number }>(res)).user_id;
  }

  async logOut(): Promise<void> {
    await send("DELETE", "/sessions/current");
  }

  // The logged-in user, or null when there is no (valid) session.
  async me(): Promise<User | null> {
    try {
      return await readJson<User>(await send("GET", "/me"));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return null;
      throw e;
    }
  }

  // PUT with If-Match: a 412 (ApiError, status 412) when someone changed it since `etag`.
  async replaceUser(id: number, profile: Profile, etag: string | null): Promise<Versioned<User>> {
    const res = await send("PUT", `/users/${id}`, profile, etag ? { "If-Match": etag } : {});
    return { value: await readJson<User>(res), etag: res.headers.get("ETag") };
  }

  async edit(photoId: number, operations: Operation[]): Promise<number> {
    const res = await send("POST", `/photos/${photoId}/edits`, { operations });
    return (await readJson<{ id: number }>(res)).id;
  }

  async job(id: number): Promise<Job> {
    return readJson<Job>(await send("GET", `/jobs/${id}`));
  }
}
