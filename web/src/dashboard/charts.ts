// The charts: each a PromQL expression over the last 10 minutes (Prometheus's query_range), one
// line per series. A chart whose expression has no series says so ("no data in this stage":
// a queue, an edge or KPIs exist only in some stages) instead of drawing nothing.
import uPlot from "uplot";
import { append, h } from "../dom";
import { queryRange, type Labels, type RangeSeries } from "./prometheus";

export const WINDOW_S = 600;
export const STEP_S = 5;

type Unit = "rps" | "ratio" | "seconds" | "bytes" | "cores" | "count";

export interface ChartDef {
  id: string;
  title: string;
  expr: string;
  unit: Unit;
  // A series' name; `hostOf` names a lab host by its address ("10.77.1.21:5432" -> "db2").
  legend: (labels: Labels, hostOf: (address: string) => string | undefined) => string;
}

const web = 'job="ztm-web"';

// A line per host: the lab's hosts (job "host": a name) or the replicas (label host: an address).
const perHost = (id: string, title: string, expr: string, unit: Unit): ChartDef => ({
  id,
  title,
  expr,
  unit,
  legend: (l, hostOf) => (l.host ? (hostOf(l.host) ?? l.host) : "?"),
});

export const CHARTS: ChartDef[] = [
  {
    id: "web-rps",
    title: "Web tier: requests/s",
    expr: `sum by (instance) (rate(ztm_http_requests_total{${web}}[1m]))`,
    unit: "rps",
    legend: (l) => l.instance ?? "all",
  },
  {
    id: "web-5xx",
    title: "Web tier: 5xx share",
    // No 5xx series at all is a share of 0, not "no data".
    expr:
      `(sum(rate(ztm_http_requests_total{${web},code=~"5.."}[1m])) or vector(0))` +
      ` / sum(rate(ztm_http_requests_total{${web}}[1m]))`,
    unit: "ratio",
    legend: () => "5xx share",
  },
  {
    id: "web-p99",
    title: "Web tier: p99 latency",
    expr: `histogram_quantile(0.99, sum by (le) (rate(ztm_http_request_duration_seconds_bucket{${web}}[1m])))`,
    unit: "seconds",
    legend: () => "p99",
  },
  perHost(
    "host-cpu",
    "CPU per host (cores)",
    'rate(ztm_host_cpu_seconds_total{job="host"}[1m])',
    "cores",
  ),
  perHost("host-memory", "Memory per host", 'ztm_host_memory_bytes{job="host"}', "bytes"),
  perHost(
    "db-lag",
    "Database: replica lag (as the web tier proves it)",
    `max by (host) (ztm_pg_replica_lag_seconds{${web}})`,
    "seconds",
  ),
  {
    id: "db-commits",
    title: "Database: commits/s",
    expr: 'sum by (instance) (rate(pg_stat_database_xact_commit{job="postgres"}[1m]))',
    unit: "rps",
    legend: (l) => l.instance ?? "?",
  },
  {
    id: "cache-hit",
    title: "Cache: hit ratio per layer",
    expr: "layer:cache_hit:ratio_rate1m", // deploy/prometheus/rules.yml: unserved L2 lookups count
    unit: "ratio",
    legend: (l) => l.layer ?? "?",
  },
  {
    id: "queue-depth",
    title: "Queue: jobs pending",
    expr: 'max(ztm_queue_pending{job="ztm-worker"})',
    unit: "count",
    legend: () => "pending",
  },
  {
    id: "edge-hit",
    title: "CDN edges: hit ratio",
    expr:
      'rate(varnish_main_cache_hit{job="varnish"}[1m]) / (rate(varnish_main_cache_hit{job="varnish"}[1m])' +
      ' + rate(varnish_main_cache_miss{job="varnish"}[1m]))',
    unit: "ratio",
    legend: (l) => l.instance ?? "?",
  },
  {
    id: "kpis",
    title: "Business KPIs",
    expr: '{__name__=~"ztm_kpi_.+"}',
    unit: "count",
    legend: (l) =>
      [
        (l.__name__ ?? "?").replace(/^ztm_kpi_/, ""),
        ...Object.entries(l)
          .filter(([k]) => !["__name__", "job", "instance"].includes(k))
          .map(([k, v]) => `${k}=${v}`),
      ].join(" "),
  },
];

export function formatValue(unit: Unit, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  switch (unit) {
    case "ratio":
      return `${(v * 100).toFixed(1)}%`;
    case "seconds":
      return v < 1 ? `${(v * 1000).toFixed(1)} ms` : `${v.toFixed(2)} s`;
    case "bytes":
      return `${(v / 2 ** 20).toFixed(1)} MiB`;
    case "cores":
      return v.toFixed(3);
    case "rps":
      return `${v.toFixed(1)}/s`;
    default:
      return String(Math.round(v * 100) / 100);
  }
}

// Prometheus's series on one time axis (start..end every step); a missing or non-finite value
// is a gap (null).
export function align(
  series: RangeSeries[],
  start: number,
  end: number,
  step: number,
): { xs: number[]; ys: (number | null)[][]; points: number } {
  const xs: number[] = [];
  for (let t = start; t <= end; t += step) xs.push(t);
  let points = 0;
  const ys = series.map((s) => {
    const at = new Map(s.values.map(([t, v]) => [Math.round(t), Number(v)]));
    return xs.map((t) => {
      const v = at.get(t);
      if (v === undefined || !Number.isFinite(v)) return null;
      points += 1;
      return v;
    });
  });
  return { xs, ys, points };
}

// One chart on the page: its section, its state in data-* attributes (data-state "data",
// "empty", "no-stage-data" or "error"; data-points: finite points drawn) for people and tests.
export class Chart {
  readonly section: HTMLElement;
  private readonly note: HTMLParagraphElement;
  private readonly plotBox: HTMLDivElement;
  private plot: uPlot | null = null;
  private keys = "";

  constructor(private readonly def: ChartDef) {
    this.note = h("p", { class: "note", role: "status" }, "loading…");
    this.plotBox = h("div", { class: "plot" });
    this.section = h(
      "section",
      { class: "chart", "data-chart": def.id, "data-state": "loading", "aria-label": def.title },
      h("h2", {}, def.title),
      this.note,
      this.plotBox,
    );
  }

  async refresh(end: number, hostOf: (address: string) => string | undefined): Promise<void> {
    const start = end - WINDOW_S;
    let series: RangeSeries[];
    try {
      series = await queryRange(this.def.expr, start, end, STEP_S);
    } catch (e) {
      this.show("error", `Prometheus: ${e instanceof Error ? e.message : String(e)}`, 0, 0);
      return;
    }
    if (series.length === 0) {
      this.drop();
      this.show("no-stage-data", "no data in this stage", 0, 0);
      return;
    }
    const { xs, ys, points } = align(series, start, end, STEP_S);
    const names = series.map((s) => this.def.legend(s.labels, hostOf));
    this.draw(names, [xs, ...ys]);
    const last = ys.map((y) => [...y].reverse().find((v) => v !== null) ?? null);
    const now = names.map((n, i) => `${n} ${formatValue(this.def.unit, last[i])}`).join(" · ");
    this.show(
      points > 0 ? "data" : "empty",
      points > 0 ? now : "no points yet",
      series.length,
      points,
    );
  }

  private show(state: string, text: string, series: number, points: number): void {
    this.section.dataset.state = state;
    this.section.dataset.series = String(series);
    this.section.dataset.points = String(points);
    this.note.textContent = text;
  }

  private drop(): void {
    this.plot?.destroy();
    this.plot = null;
    this.keys = "";
  }

  private draw(names: string[], data: uPlot.AlignedData): void {
    const keys = names.join("\n");
    if (this.plot && keys === this.keys) {
      this.plot.setData(data);
      return;
    }
    this.drop();
    this.keys = keys;
    const unit = this.def.unit;
    const width = Math.max(280, this.plotBox.clientWidth || 440);
    this.plot = new uPlot(
      {
        width,
        height: 200,
        series: [
          {},
          ...names.map((label, i) => ({
            label,
            stroke: COLOURS[i % COLOURS.length],
            width: 1.5,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => formatValue(unit, v),
          })),
        ],
        axes: [{}, { size: 84, values: (_u, vals) => vals.map((v) => formatValue(unit, v)) }],
        scales: unit === "ratio" ? { y: { range: [0, 1] } } : {},
        legend: { show: true },
      },
      data,
      this.plotBox,
    );
  }
}

const COLOURS = [
  "#0b57d0",
  "#b3261e",
  "#146c2e",
  "#e8a200",
  "#6f42c1",
  "#00838f",
  "#c2185b",
  "#5b616b",
  "#795548",
  "#2e7d32",
];

export function chartsInto(root: HTMLElement): Chart[] {
  const charts = CHARTS.map((d) => new Chart(d));
  append(root, ...charts.map((c) => c.section));
  return charts;
}
