// The lab's dashboard (docs/observability.md, "Dashboard") in headless Chromium against a live
// lab brought up with --observe (stage cache): the topology shows every host of `ztm lab status
// --json`; every chart the stage has data for draws real points (the others say "no data in
// this stage"); a killed host turns red within 5 s and green again after `chaos start`.
// Run by tests/lab/lab_observe_test.sh (mode metrics), which brings the lab up and down.
//
// Usage: node dashboard.test.mjs --ztm PATH --web DIR --out DIR --lab LAB_DIR
//          [--url http://10.77.1.3:3000] [--kill cache3]
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { assert, launchChromium, onCleanup, parseArgs, run, until } from "./harness.mjs";

const args = parseArgs();
if (!args.lab) throw new Error("--lab (the lab's directory) is required");
const url = args.url ?? "http://10.77.1.3:3000";
const victim = args.kill ?? "cache3";
const exec = promisify(execFile);
const ztm = (...a) => exec(args.ztm, [...a, "--dir", args.lab], { timeout: 60_000 });

// Charts the stage cache has data for, and those it has not (a queue, an edge; KPIs may come).
const WITH_DATA = [
  "web-rps",
  "web-5xx",
  "web-p99",
  "host-cpu",
  "host-memory",
  "db-lag",
  "db-commits",
  "cache-hit",
];
const MAYBE = ["queue-depth", "edge-hit", "kpis"];

// Paced reads on every web server (the cache's hit ratio needs lookups), until the test ends.
function readLoad(webUrls) {
  let stop = false;
  const loop = async (base) => {
    while (!stop) {
      await fetch(`${base}/users/12`, { signal: AbortSignal.timeout(2000) }).catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const done = Promise.all(webUrls.map(loop));
  onCleanup(async () => {
    stop = true;
    await done;
  });
}

await run(args, "dashboard", async (t) => {
  const status = JSON.parse((await ztm("lab", "status", "--json")).stdout);
  const names = status.hosts.map((h) => h.name);
  assert(names.includes(victim), `${victim} is a host of stage ${status.stage}`);
  readLoad(
    status.hosts.filter((h) => h.roles.includes("web")).map((h) => `http://${h.address}:8080`),
  );
  const browser = await launchChromium(args);
  const context = await browser.newContext({ viewport: { width: 1600, height: 1200 } });
  context.setDefaultTimeout(10_000);
  const page = t.track(await context.newPage());
  const health = (host) => page.locator(`[data-host="${host}"]`).getAttribute("data-health");

  await t.step(
    `the topology shows the ${names.length} hosts of ztm lab status --json`,
    async () => {
      await page.goto(url);
      for (const name of names) await page.locator(`[data-host="${name}"]`).waitFor();
      const shown = await page
        .locator("[data-host]")
        .evaluateAll((els) => els.map((e) => e.dataset.host));
      assert(
        JSON.stringify([...shown].sort()) === JSON.stringify([...names].sort()),
        `hosts shown ${shown} = ${names}`,
      );
      for (const name of names) assert((await health(name)) === "ok", `${name} green`);
      const obs = await page.locator('[data-tier="obs"] [data-host="obs"]').count();
      assert(obs === 1, "obs in the Monitoring tier");
      await t.shot(page, "topology");
    },
  );

  await t.step("every chart of stage cache draws real points within 60 s", async () => {
    const chart = (id) => page.locator(`[data-chart="${id}"]`);
    for (const id of WITH_DATA)
      await until(
        `chart ${id} to have points`,
        async () =>
          (await chart(id).getAttribute("data-state")) === "data" &&
          Number(await chart(id).getAttribute("data-points")) > 0,
        60_000,
        500,
      );
    for (const id of WITH_DATA) {
      const points = Number(await chart(id).getAttribute("data-points"));
      const series = Number(await chart(id).getAttribute("data-series"));
      // uPlot drew it: a canvas and a legend row per series
      const legend = await chart(id).locator(".u-legend .u-series").count();
      assert(await chart(id).locator("canvas").count(), `${id} has a canvas`);
      assert(legend === series + 1, `${id}: legend rows ${legend} = ${series} series + time`);
      console.log(`     ${id}: ${series} series, ${points} points`);
    }
    const perHost = Number(await chart("host-cpu").getAttribute("data-series"));
    assert(perHost === names.length, `a CPU line per host (${perHost} = ${names.length})`);
    for (const id of MAYBE) {
      const state = await chart(id).getAttribute("data-state");
      const note = await chart(id).locator(".note").textContent();
      assert(
        state === "data" || (state === "no-stage-data" && note === "no data in this stage"),
        `${id}: data or "no data in this stage" (${state}: ${note})`,
      );
      console.log(`     ${id}: ${state}`);
    }
    await t.shot(page, "charts");
  });

  await t.step(`a killed ${victim} turns red within 5 s, green after chaos start`, async () => {
    await ztm("lab", "chaos", "kill", victim);
    const killed = Date.now();
    await until(`${victim} red`, async () => (await health(victim)) === "bad", 5000, 50);
    const red = Date.now() - killed;
    await t.shot(page, `${victim}-red`);
    for (const name of names)
      if (name !== victim) assert((await health(name)) === "ok", `${name} still green`);
    await ztm("lab", "chaos", "start", victim); // returns once it is healthy
    const started = Date.now();
    await until(`${victim} green`, async () => (await health(victim)) === "ok", 5000, 50);
    const green = Date.now() - started;
    await t.shot(page, `${victim}-green`);
    console.log(`     ${victim}: red ${red} ms after the kill, green ${green} ms after the start`);
  });
});
