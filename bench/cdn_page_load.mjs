// Page-load timings of the browser client, from Chromium's own Navigation and Resource Timing
// (docs/performance.md, "CDN: edge hits, offload, page loads"). Debian's chromium, driven by
// playwright-core from web/node_modules as tests/browser/ does. Each round opens a fresh browser
// context (empty HTTP cache, no connections) and loads the origin's page until the directory
// shows (`first`), then a new tab in the same context loads it again (`repeat`: the HTTP cache
// warm). With --cold CMD (a shell command that empties the edges' caches), each round runs CMD
// first: the first load meets a cold edge (`first, edge cold`: every edge request a miss, paid to
// the origin), the repeat follows, then a second fresh context loads the page from the now warm
// edge (`first, edge warm`). Prints one JSON line per load and a table of medians (--header 0
// leaves out the table's header, for a driver that prints several blocks as one table).
// Run inside a lab client namespace (bench/cdn_numbers.sh does):
//   node bench/cdn_page_load.mjs --web web --origin https://10.77.0.10 --label cdn \
//     --rounds 20 --spki BASE64,BASE64   (the SPKI hashes of the lab's self-signed certificates)
//     [--cold "varnishadm ... ban req.url '~' ."] [--header 0]
import { execSync } from "node:child_process";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { CHROMIUM, CHROMIUM_FLAGS } from "../tests/browser/harness.mjs";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const rounds = Number(args.rounds ?? 20);
const { chromium } = createRequire(join(resolve(args.web), "package.json"))("playwright-core");

// The certificates are accepted by their key (not with --ignore-certificate-errors: Chromium
// does not cache what came over a connection with a certificate error, which would spoil the
// repeat load). The flag needs a --user-data-dir, which Playwright gives every launch.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  timeout: 30_000,
  args: [...CHROMIUM_FLAGS, `--ignore-certificate-errors-spki-list=${args.spki}`],
});

// Records, in the page's own clock, when the directory's first user shows.
function markReady() {
  new MutationObserver((_, observer) => {
    if (document.querySelector('ul.users[aria-label="Users on this page"] li')) {
      window.__ztmReady = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
}

async function load(context) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  // Requests the page made, those answered from the browser's cache, bytes over the network
  // by host (encodedDataLength: headers and body as received).
  const net = { requests: 0, fromCache: 0, bytes: {} };
  const cached = new Set();
  const hostOf = new Map();
  cdp.on("Network.requestWillBeSent", (e) => {
    if (!e.redirectResponse) net.requests += 1;
  });
  cdp.on("Network.requestServedFromCache", (e) => cached.add(e.requestId));
  cdp.on("Network.responseReceived", (e) => {
    if (e.response.fromDiskCache) cached.add(e.requestId);
    hostOf.set(e.requestId, new URL(e.response.url).host);
  });
  cdp.on("Network.loadingFinished", (e) => {
    const host = hostOf.get(e.requestId) ?? "?";
    net.bytes[host] = (net.bytes[host] ?? 0) + e.encodedDataLength;
  });
  await page.goto(args.origin + "/", { timeout: 15_000 });
  await page.waitForFunction(
    () => window.__ztmReady && performance.getEntriesByType("navigation")[0]?.loadEventEnd > 0,
    null,
    { timeout: 15_000 },
  );
  const t = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource").map((r) => ({
      host: new URL(r.name).host,
      path: new URL(r.name).pathname,
      start: r.startTime,
      end: r.responseEnd,
    }));
    return {
      ttfb: n.responseStart,
      dcl: n.domContentLoadedEventEnd,
      load: n.loadEventEnd,
      ready: window.__ztmReady,
      footer: document.querySelector("footer")?.dataset.edge ?? null,
      resources: res,
    };
  });
  await page.close();
  net.fromCache = cached.size;
  return { ...t, net };
}

// Each round: fresh contexts, each a list of loads (a new tab each) of those kinds.
const plan = args.cold
  ? [["first, edge cold", "repeat"], ["first, edge warm"]]
  : [["first", "repeat"]];
const kinds = plan.flat();
const rows = Object.fromEntries(kinds.map((k) => [k, []]));
for (let round = 1; round <= rounds; round++) {
  if (args.cold) execSync(args.cold, { stdio: ["ignore", "ignore", "inherit"] });
  for (const loads of plan) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(markReady);
    for (const kind of loads) {
      const r = await load(context);
      rows[kind].push(r);
      console.log(JSON.stringify({ label: args.label, round, kind, ...r }));
    }
    await context.close();
  }
}
await browser.close();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => x.toFixed(1);
if (args.header !== "0") {
  console.log(
    `| page load | load | TTFB ms | DOMContentLoaded ms | load event ms | directory shown ms | requests (from cache) | bytes from origin / edges |`,
  );
  console.log(`|---|---|---|---|---|---|---|---|`);
}
for (const kind of kinds) {
  const r = rows[kind];
  const originHost = new URL(args.origin).host;
  const bytes = (pick) =>
    median(
      r.map((x) =>
        Object.entries(x.net.bytes)
          .filter(([h]) => pick(h))
          .reduce((a, [, b]) => a + b, 0),
      ),
    );
  console.log(
    `| ${args.label} (footer: ${r[0].footer}) | ${kind} | ${ms(median(r.map((x) => x.ttfb)))} | ` +
      `${ms(median(r.map((x) => x.dcl)))} | ${ms(median(r.map((x) => x.load)))} | ` +
      `${ms(median(r.map((x) => x.ready)))} | ${median(r.map((x) => x.net.requests))} ` +
      `(${median(r.map((x) => x.net.fromCache))}) | ` +
      `${bytes((h) => h === originHost)} / ${bytes((h) => h !== originHost)} |`,
  );
}

// Where the time went: per resource (content hashes cut), the median of responseEnd − startTime
// over the loads of each kind, with the host it came from.
for (const kind of kinds) {
  const byName = new Map();
  for (const x of rows[kind]) {
    for (const r of x.resources) {
      const name = `${r.host}${r.path.replace(/\.[0-9a-f]{12}\./, ".")}`;
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name).push(r.end - r.start);
    }
  }
  const list = [...byName].map(([name, d]) => `${name} ${ms(median(d))}`).join(", ");
  console.log(`resources, ${args.label}, ${kind} (median ms): ${list}`);
}
