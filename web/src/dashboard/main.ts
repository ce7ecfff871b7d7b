// The lab's dashboard (docs/observability.md, "Dashboard"), served on the obs host by
// `ztm lab dashboard`: the stage's topology from the lab's status (every second) and charts
// from Prometheus (every 5 s). Nothing here writes: it only watches.
import { chartsInto, type Chart } from "./charts";
import { query } from "./prometheus";
import { fetchStatus, type LabStatus } from "./status";
import { drawTopology } from "./topology";

const STATUS_EVERY_MS = 1000;
const CHARTS_EVERY_MS = 5000;

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard.html has no #${id}`);
  return el;
}

// Runs `f` now and then `every` ms after each run ends (never two at once).
function repeat(every: number, f: () => Promise<void>): void {
  const run = async () => {
    try {
      await f();
    } finally {
      setTimeout(run, every);
    }
  };
  void run();
}

function start(): void {
  const topology = element("topology");
  const stageLine = element("stage");
  const problem = element("problem");
  const charts: Chart[] = chartsInto(element("charts"));
  let rps = new Map<string, number>();
  let last: LabStatus | null = null;

  repeat(STATUS_EVERY_MS, async () => {
    try {
      last = await fetchStatus();
      problem.hidden = true;
      stageLine.textContent = `stage ${last.stage}${last.figure ? ` (figure ${last.figure})` : ""} · ${last.hosts.length} hosts · ${new Date().toLocaleTimeString()}`;
      drawTopology(topology, last, rps);
    } catch (e) {
      problem.hidden = false;
      problem.textContent = `The lab's status is unavailable (${e instanceof Error ? e.message : e}); showing the last one.`;
    }
  });

  repeat(CHARTS_EVERY_MS, async () => {
    const end = Math.floor(Date.now() / 1000 / 5) * 5;
    try {
      const samples = await query(
        'sum by (instance) (rate(ztm_http_requests_total{job="ztm-web"}[1m]))',
      );
      rps = new Map(samples.map((s) => [(s.labels.instance ?? "").split(":")[0], s.value]));
      if (last) drawTopology(topology, last, rps);
    } catch {
      // the charts say what is wrong with Prometheus
    }
    const hosts = new Map((last?.hosts ?? []).map((h) => [h.address, h.name]));
    const hostOf = (address: string) => hosts.get(address.split(":")[0]);
    for (const chart of charts) await chart.refresh(end, hostOf);
  });
}

start();
