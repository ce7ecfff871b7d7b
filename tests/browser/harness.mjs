// What the browser tests share (docs/browser-client.md, "Tests"): a real `ztm serve` on a free
// port with a temporary SQLite directory and the client's build output, a real Varnish edge,
// Debian's Chromium driven by playwright-core (never a downloaded browser), screenshots, and
// bounded waits. Everything a test starts is stopped by pid when it ends.
//
// Usage: node <test>.mjs --ztm PATH --web DIR --out DIR [--vcl PATH]
import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
  existsSync,
} from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { deflateSync } from "node:zlib";

export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ["ztm", "web", "out"]) if (!args[k]) throw new Error(`--${k} is required`);
  args.web = resolve(args.web);
  args.dist = join(args.web, "dist");
  if (!existsSync(join(args.dist, "index.html")))
    throw new Error(
      `${args.dist}/index.html is missing: build the client first (scripts/lib/web.sh)`,
    );
  mkdirSync(args.out, { recursive: true });
  return args;
}

// playwright-core from the client's own node_modules (web/package.json pins it).
export function playwright(webDir) {
  return createRequire(join(webDir, "package.json"))("playwright-core");
}

// ---- processes ---------------------------------------------------------------------------

const started = []; // {name, child}
const cleanups = [];

export function onCleanup(f) {
  cleanups.push(f);
}

export async function stopAll() {
  for (const f of cleanups.reverse()) {
    try {
      await f();
    } catch (e) {
      console.error(`cleanup: ${e}`);
    }
  }
  for (const { child } of started.reverse()) await stop(child);
}

// SIGTERM, then SIGKILL after `ms` if it has not exited; resolves when it has.
export async function stop(child, ms = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}

function track(name, child, logFile) {
  const chunks = [];
  const keep = (d) => {
    chunks.push(d);
    if (logFile) writeFileSync(logFile, Buffer.concat(chunks));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  started.push({ name, child });
  return () => Buffer.concat(chunks).toString();
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

// Polls `f` every `every` ms until it returns a truthy value; throws after `ms`.
export async function until(what, f, ms = 10_000, every = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// `ztm serve` on a free port over a fresh SQLite directory seeded with the demo users.
export async function startZtm(args, name, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), `ztm-browser-${name}-`));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, "ztm.db");
  const common = ["--storage.sqlite_path", db, "--storage.sqlite_durable_commits", "false"];
  const seed = spawn(args.ztm, ["seed", ...common], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const seedOut = track(`${name}-seed`, seed);
  const [code] = await once(seed, "exit");
  if (code !== 0) throw new Error(`ztm seed exited ${code}: ${seedOut()}`);
  const child = spawn(
    args.ztm,
    [
      "serve",
      ...common,
      "--http.port",
      "0",
      "--http.static_dir",
      args.dist,
      // Fast password hashing and room for the tests' sign-ups and log-ins from one address.
      "--accounts.argon2_ops",
      "1",
      "--accounts.argon2_memory_kib",
      "8",
      "--accounts.login_attempts_per_address",
      "10000",
      "--log.access",
      "errors",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = track(name, child, join(args.out, `${name}.log`));
  const url = await until(`${name} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${log()}`);
    return /^ztm serve: listening on (\S+)$/m.exec(log())?.[1];
  });
  return { url, child, dir, log };
}

// A Varnish edge (deploy/varnish/edge.vcl, rendered as deploy/varnish/check.sh does) on
// 127.0.0.1:`port` in front of `origin` (http://127.0.0.1:PORT).
export async function startEdge(args, name, port, origin) {
  const vclSrc = args.vcl ?? join(args.web, "..", "deploy", "varnish", "edge.vcl");
  const dir = mkdtempSync(join(tmpdir(), `ztm-edge-${name}-`));
  chmodSync(dir, 0o755); // varnishd reads the VCL as its own unprivileged user
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const o = new URL(origin);
  const adminPort = await freePort();
  const values = {
    edge_name: name,
    origin_host: o.hostname,
    origin_port: o.port,
    admin_socket: "admin",
    purgers: '    "127.0.0.1";',
    lease: "2s",
  };
  const text = readFileSync(vclSrc, "utf8").replace(/\{\{([a-z_]+)\}\}/g, (_, k) => {
    if (!(k in values)) throw new Error(`edge.vcl: no value for {{${k}}}`);
    return values[k];
  });
  const vcl = join(dir, "edge.vcl");
  writeFileSync(vcl, text);
  chmodSync(vcl, 0o644);
  const child = spawn(
    "varnishd",
    [
      "-F",
      "-n",
      join(dir, "vd"),
      "-a",
      `public=127.0.0.1:${port}`,
      "-a",
      `admin=127.0.0.1:${adminPort}`,
      "-T",
      "none",
      "-f",
      vcl,
      "-s",
      "malloc,64m",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = track(name, child, join(args.out, `${name}.log`));
  const url = `http://127.0.0.1:${port}`;
  await until(
    `${name} to answer /.ztm/ping`,
    async () => {
      if (child.exitCode !== null) throw new Error(`varnishd exited ${child.exitCode}: ${log()}`);
      return (await fetch(`${url}/.ztm/ping`)).ok;
    },
    15_000,
  );
  return { url, child, log };
}

// A TCP port that accepts connections and never answers: an edge that hangs (the browser's
// requests can only time out).
export async function startBlackHole() {
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer((s) => {
    connections += 1;
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  onCleanup(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    accepted: () => connections,
  };
}

// ---- the browser -------------------------------------------------------------------------

export const CHROMIUM = "/usr/bin/chromium";
// Chromium's flags for tests and benchmarks: no sandbox (root), no GPU, no QUIC, nothing in the
// background that would add requests or time.
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(args) {
  const { chromium } = playwright(args.web);
  // Playwright gives launch() a fresh, empty --user-data-dir of its own (and refuses one in
  // `args`); it removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", ...CHROMIUM_FLAGS],
  });
  onCleanup(() => browser.close());
  return browser;
}

// A deterministic noise PNG (RGB, 8 bits): noise does not compress, so the upload is as large
// as width x height x 3 and its progress is visible.
export function noisePng(width, height, seed = 1) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let x = seed >>> 0 || 1;
  for (let row = 0; row < height; row++) {
    const at = row * (width * 3 + 1);
    raw[at] = 0; // filter: none
    for (let i = 1; i <= width * 3; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      // noise over a gradient, so a crop and a blur visibly change the picture
      raw[at + i] = ((x & 0x3f) + (row * 160) / height + (i % 3) * 40) & 0xff;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 1 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// ---- steps -------------------------------------------------------------------------------

// Runs the named steps in order, each timed; on a failure, a screenshot of every open page
// (FAIL-<step>-<n>.png under --out) and exit status 1. Always stops what was started.
export async function run(args, title, body) {
  const t0 = Date.now();
  const pages = new Set();
  let current = "start";
  let shots = 0;
  const t = {
    track(page) {
      pages.add(page);
      page.on("close", () => pages.delete(page));
      page.on("console", (m) => {
        // (a failed resource is an answer the test checks itself)
        if (
          (m.type() === "error" || m.type() === "warning") &&
          !m.text().startsWith("Failed to load resource")
        )
          console.log(`  [console ${m.type()}] ${m.text()}`);
      });
      page.on("pageerror", (e) => console.log(`  [pageerror] ${e}`));
      return page;
    },
    async step(name, f) {
      current = name;
      const s = Date.now();
      await f();
      console.log(`ok   ${name} (${Date.now() - s} ms)`);
    },
    async shot(page, name) {
      const file = join(args.out, `${String(++shots).padStart(2, "0")}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
    },
  };
  let status = 0;
  try {
    await body(t);
    console.log(
      `${title}: all steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${args.out}`,
    );
  } catch (e) {
    status = 1;
    console.log(`FAIL ${current}: ${e?.stack ?? e}`);
    let n = 0;
    for (const p of pages) {
      const file = join(args.out, `FAIL-${current.replace(/[^a-z0-9]+/gi, "_")}-${++n}.png`);
      await p.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.log(`     screenshot: ${file}`);
    }
    for (const { name, child } of started)
      console.log(
        `     ${name}: pid ${child.pid}, ${child.exitCode ?? child.signalCode ?? "running"}`,
      );
  } finally {
    await stopAll();
  }
  process.exit(status);
}

export function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}
