// Prometheus's HTTP API (query and query_range only), through the dashboard's own server on the
// obs host (`ztm lab dashboard`, src/lab/dashboard.h), so the page needs no CORS.

export type Labels = Record<string, string>;

export interface RangeSeries {
  labels: Labels;
  values: [number, string][]; // [unix seconds, value as Prometheus writes it ("NaN", "+Inf")]
}

export interface Sample {
  labels: Labels;
  value: number;
}

interface Answer<T> {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: T[] };
}

const TIMEOUT_MS = 8000;

async function get<T>(path: string, params: Record<string, string>): Promise<T[]> {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, {
    cache: "no-store",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  let body: Answer<T>;
  try {
    body = (await response.json()) as Answer<T>;
  } catch {
    throw new Error(`Prometheus answered ${response.status} without JSON`);
  }
  if (body.status !== "success" || !body.data)
    throw new Error(body.error ?? `Prometheus answered ${response.status}`);
  return body.data.result;
}

// The series of `expr` from `start` to `end` (unix seconds), one point every `step` seconds.
export async function queryRange(
  expr: string,
  start: number,
  end: number,
  step: number,
): Promise<RangeSeries[]> {
  const result = await get<{ metric: Labels; values: [number, string][] }>("/api/v1/query_range", {
    query: expr,
    start: String(start),
    end: String(end),
    step: String(step),
  });
  return result.map((s) => ({ labels: s.metric, values: s.values }));
}

// The value of `expr` now, one sample per series.
export async function query(expr: string): Promise<Sample[]> {
  const result = await get<{ metric: Labels; value: [number, string] }>("/api/v1/query", {
    query: expr,
  });
  return result.map((s) => ({ labels: s.metric, value: Number(s.value[1]) }));
}
