// The browser client through a real Varnish edge (deploy/varnish/edge.vcl) in front of a real
// `ztm serve --cdn.edges edge1=...`, in headless Chromium: the app's code, styles, public reads
// and images come from the edge; then the edge is killed and the same flow works through the
// origin with no user action, in the open page, after a reload and in a fresh browser; last,
// an edge that accepts connections and never answers (a black hole) from the start.
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import {
  assert,
  freePort,
  launchChromium,
  noisePng,
  parseArgs,
  run,
  startBlackHole,
  startEdge,
  startZtm,
  until,
} from "./harness.mjs";
import {
  cropUploaded,
  imageLoaded,
  logIn,
  newUser,
  noErrorShown,
  signUp,
  upload,
} from "./flows.mjs";

const args = parseArgs();

// Every response a page saw, with the phase of the test it came in.
function recorder() {
  const seen = [];
  let phase = "";
  return {
    seen,
    phase: (p) => (phase = p),
    watch(page) {
      page.on("response", (r) =>
        seen.push({
          phase,
          url: new URL(r.url()),
          method: r.request().method(),
          type: r.request().resourceType(),
          status: r.status(),
          servedBy: r.headers()["x-served-by"] ?? null,
        }),
      );
      return page;
    },
  };
}

const isPublicRead = (u) =>
  /^\/(users(\/\d+(\/photos)?)?|photos\/\d+)$/.test(u.pathname) || u.pathname.startsWith("/media/");
const isAsset = (u) => u.pathname.startsWith("/assets/");

await run(args, "browser cdn fallback", async (t) => {
  const edgePort = await freePort();
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const origin = await startZtm(args, "origin", ["--cdn.edges", `edge1=${edgeUrl}`]);
  const edge = await startEdge(args, "edge1", edgePort, origin.url);
  const photo = join(args.out, "noise-640x480.png");
  writeFileSync(photo, noisePng(640, 480, 11));
  const browser = await launchChromium(args);
  const rec = recorder();
  const hostOf = (s) => new URL(s).host;
  const u = newUser("cdn");
  // A new browser context (no sessionStorage: nothing known about the edge) on `url`, once the
  // directory shows; `usable` is how long that took.
  const freshPage = async (url, why) => {
    const context = await browser.newContext({
      viewport: { width: 1024, height: 800 },
    });
    context.setDefaultTimeout(10_000);
    const page = t.track(rec.watch(await context.newPage()));
    const t0 = Date.now();
    await page.goto(url);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    const usable = Date.now() - t0;
    console.log(`     usable ${usable} ms after navigation (${why})`);
    return { context, page, usable };
  };

  await t.step("GET /cdn.json names the edge", async () => {
    const cfg = await (await fetch(`${origin.url}/cdn.json`)).json();
    assert(
      cfg.preferred === "edge1" && cfg.edges?.[0]?.url === edgeUrl,
      `cdn.json: ${JSON.stringify(cfg)}`,
    );
  });

  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  const page = t.track(rec.watch(await context.newPage()));

  await t.step("through the edge: sign up, upload, crop, the result", async () => {
    rec.phase("edge");
    await page.goto(origin.url);
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByText("Content from CDN edge edge1.").waitFor();
    await signUp(page, origin.url, u);
    const { id } = await upload(page, photo);
    await cropUploaded(page, id);
    await page.getByRole("link", { name: "owner's profile" }).click();
    await page.locator(".gallery li img").first().waitFor();
    await noErrorShown(page);
    await t.shot(page, "through-edge");

    const inPhase = rec.seen.filter((r) => r.phase === "edge");
    const from = (r) => r.url.host;
    // The page and its boot script from the origin; the app, its styles, public reads and
    // images from the edge, each marked by it.
    const doc = inPhase.find((r) => r.type === "document");
    assert(from(doc) === hostOf(origin.url), `index.html from the origin (${doc.url})`);
    const boot = inPhase.find((r) => /\/assets\/boot\./.test(r.url.pathname));
    assert(boot && from(boot) === hostOf(origin.url), "boot.js from the origin");
    for (const kind of [/\/assets\/app\..*\.js$/, /\/assets\/style\..*\.css$/]) {
      const r = inPhase.find((x) => kind.test(x.url.pathname));
      assert(
        r && from(r) === hostOf(edgeUrl) && r.servedBy === "edge1" && r.status === 200,
        `${kind} from the edge (${r?.url} ${r?.servedBy})`,
      );
    }
    const reads = inPhase.filter((r) => r.method === "GET" && isPublicRead(r.url));
    for (const path of [
      /^\/users$/,
      /^\/users\/\d+$/,
      /^\/users\/\d+\/photos$/,
      /^\/photos\/\d+$/,
      /^\/media\//,
    ]) {
      const some = reads.filter((r) => path.test(r.url.pathname));
      assert(some.length > 0, `a public read of ${path} happened`);
      const off = some.filter((r) => from(r) !== hostOf(edgeUrl) || r.servedBy !== "edge1");
      assert(
        off.length === 0,
        `every ${path} read came from edge1 (not: ${off.map((r) => r.url).join(", ")})`,
      );
    }
    const writes = inPhase.filter(
      (r) => r.method !== "GET" && r.method !== "HEAD" && r.method !== "OPTIONS",
    );
    assert(
      writes.length > 0 && writes.every((r) => from(r) === hostOf(origin.url)),
      "every write went to the origin",
    );
    console.log(
      `     through the edge: ${inPhase.filter((r) => from(r) === hostOf(edgeUrl)).length} responses from edge1, ${inPhase.length} in all`,
    );
  });

  await t.step("kill the edge: it refuses connections", async () => {
    edge.child.kill("SIGKILL");
    await until(
      "the edge's port to refuse connections",
      () =>
        new Promise((resolve) => {
          const s = net.connect(edgePort, "127.0.0.1");
          s.on("connect", () => {
            s.destroy();
            resolve(false);
          });
          s.on("error", (e) => resolve(e.code === "ECONNREFUSED"));
        }),
      5000,
    );
  });

  const afterKill = (phase) => {
    const inPhase = rec.seen.filter((r) => r.phase === phase);
    const edgeAnswers = inPhase.filter((r) => r.url.host === hostOf(edgeUrl));
    assert(
      edgeAnswers.length === 0,
      `no answer from the dead edge (${edgeAnswers.map((r) => r.url).join(", ")})`,
    );
    const reads = inPhase.filter(
      (r) => isPublicRead(r.url) && r.url.host === hostOf(origin.url) && r.status < 400,
    );
    assert(reads.length > 0, "public reads were answered by the origin");
    return inPhase;
  };

  await t.step(
    "edge dead, same page: directory, upload, crop, the result, through the origin",
    async () => {
      rec.phase("dead-same-page");
      await page.getByRole("link", { name: "Directory" }).click();
      await page
        .getByRole("list", { name: "Users on this page" })
        .getByRole("link")
        .first()
        .waitFor();
      const { id } = await upload(page, photo);
      const img = page.locator(`li[data-photo-id="${id}"] img`);
      assert(await imageLoaded(img), "the new photo shows in the gallery");
      await cropUploaded(page, id, { blur: true });
      await page
        .getByText("CDN edge edge1 is unreachable: content comes from the origin.")
        .waitFor();
      await noErrorShown(page);
      await t.shot(page, "edge-dead-same-page");
      afterKill("dead-same-page");
    },
  );

  await t.step("edge dead, the page reloaded: app from the origin", async () => {
    rec.phase("dead-reload");
    await page.goto(`${origin.url}/#/users`);
    await page.reload();
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByRole("button", { name: "Log out" }).waitFor();
    const app = rec.seen.find(
      (r) => r.phase === "dead-reload" && /\/assets\/app\./.test(r.url.pathname),
    );
    assert(
      app && app.url.host === hostOf(origin.url) && app.status === 200,
      "app.js from the origin",
    );
    afterKill("dead-reload");
  });

  await t.step("edge dead from the start, a fresh browser: log in, upload, crop", async () => {
    rec.phase("dead-fresh");
    const { context: fresh, page: p } = await freshPage(origin.url, "edge refusing");
    await logIn(p, origin.url, u);
    const { id } = await upload(p, photo);
    await cropUploaded(p, id, { sharpen: true });
    await noErrorShown(p);
    await t.shot(p, "edge-dead-fresh");
    const style = rec.seen.find(
      (r) => r.phase === "dead-fresh" && /\/assets\/style\./.test(r.url.pathname),
    );
    assert(style && style.url.host === hostOf(origin.url), "styles from the origin");
    afterKill("dead-fresh");
    await fresh.close();
  });

  await t.step("an edge that never answers (black hole) from the start", async () => {
    rec.phase("black-hole");
    const hole = await startBlackHole();
    const origin2 = await startZtm(args, "origin2", ["--cdn.edges", `edge1=${hole.url}`]);
    const { context: ctx2, page: p, usable } = await freshPage(origin2.url, "edge a black hole");
    assert(usable < 6000, `usable within 6 s despite the hanging edge (${usable} ms)`);
    assert(hole.accepted() > 0, "the page tried the edge");
    await signUp(p, origin2.url, newUser("hole"));
    const { id } = await upload(p, photo);
    await cropUploaded(p, id);
    await p.getByText("CDN edge edge1 is unreachable: content comes from the origin.").waitFor();
    await noErrorShown(p);
    await t.shot(p, "edge-black-hole");
    const answered = rec.seen.filter((r) => r.phase === "black-hole");
    assert(
      answered.every((r) => r.url.host === hostOf(origin2.url)),
      "every answer came from the origin",
    );
    await ctx2.close();
  });
});
