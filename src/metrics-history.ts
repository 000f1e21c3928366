import type { Metrics } from './metrics.js';

/** One look at kiln's own metrics, and what happened since the look before it. */
export interface HealthSample {
  /** Epoch ms. */
  at: number;
  /** Warm boxes waiting, per pool class (language). */
  ready: Record<string, number>;
  /** Executions holding a slot, and waiting for one. */
  running: number;
  waiting: number;
  /** Executions finished per second over the interval. */
  perSecond: number;
  /** Latency of those executions (admission to answer), in ms; null when none finished. */
  p50: number | null;
  p99: number | null;
  /** Requests refused at capacity (429) in the interval. */
  refused: number;
  /** Runtime builds queued or running. */
  builds: number;
}

const EVERY_MS = 10_000;
/** The rejections that are 429s at capacity (src/sandbox/admission.ts); a client that left is not one. */
const AT_CAPACITY = new Set(['queue_full', 'queue_bytes_full', 'expected_wait']);
const KEEP = 360; // an hour of looks

type Values = { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];
const total = (values: Values) => values.reduce((sum, v) => sum + v.value, 0);

/** The latency histogram's cumulative counts by upper bound, summed over languages. */
function buckets(values: Values): Map<number, number> {
  const byBound = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + v.value);
  }
  return byBound;
}

/**
 * The q-quantile of what fell in the buckets between two looks, in ms: linear within the bucket it
 * lands in (as Prometheus' histogram_quantile does); one past the last finite bound is that bound.
 */
export function quantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (count <= 0) return null;
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const upTo = (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
    if (upTo >= rank) {
      if (!Number.isFinite(bound)) return lower * 1000;
      const inBucket = upTo - below;
      return (lower + (bound - lower) * (inBucket ? (rank - below) / inBucket : 1)) * 1000;
    }
    lower = Number.isFinite(bound) ? bound : lower;
    below = upTo;
  }
  return lower * 1000;
}

/**
 * kiln's own metrics over the last hour, kept in memory (one look every 10 s), for the console's
 * health page: the registry's counters and histograms become rates and quantiles per interval.
 * This process's alone: each replica keeps its own.
 */
export function createMetricsHistory(metrics: Metrics, opts: { everyMs?: number; keep?: number } = {}) {
  const everyMs = opts.everyMs ?? EVERY_MS;
  const keep = opts.keep ?? KEEP;
  const samples: HealthSample[] = [];
  let last: { at: number; executions: number; refused: number; buckets: Map<number, number> } | null = null;
  let timer: NodeJS.Timeout | undefined;

  async function look(): Promise<HealthSample> {
    const at = Date.now();
    const [ready, running, waiting, executions, duration, refused, builds] = await Promise.all([
      metrics.poolReady.get(),
      metrics.running.get(),
      metrics.queueWaiting.get(),
      metrics.executions.get(),
      metrics.duration.get(),
      metrics.rejections.get(),
      metrics.buildQueue.get(),
    ]);
    const busy = refused.values.filter((v) => AT_CAPACITY.has(String(v.labels.reason)));
    const now = { at, executions: total(executions.values), refused: total(busy), buckets: buckets(duration.values as Values) };
    // the first look has no interval before it: no rate, no quantiles (not the whole process's life)
    const since = last ?? now;
    const seconds = Math.max((at - since.at) / 1000, 0.001);
    const sample: HealthSample = {
      at,
      ready: Object.fromEntries(ready.values.map((v) => [String(v.labels.language), v.value])),
      running: total(running.values),
      waiting: total(waiting.values),
      perSecond: last ? (now.executions - since.executions) / seconds : 0,
      p50: quantileBetween(since.buckets, now.buckets, 0.5),
      p99: quantileBetween(since.buckets, now.buckets, 0.99),
      refused: last ? now.refused - since.refused : 0,
      builds: total(builds.values),
    };
    last = now;
    return sample;
  }
  const record = async () => {
    samples.push(await look());
    if (samples.length > keep) samples.splice(0, samples.length - keep);
  };

  return {
    /** The looks of the last hour, oldest first. */
    samples: (): readonly HealthSample[] => samples,
    start(): void {
      void record().catch(() => {}); // a registry that fails to answer costs one look, never the process
      timer = setInterval(() => void record().catch(() => {}), everyMs);
      timer.unref();
    },
    stop: () => clearInterval(timer),
    /** Takes a look now (tests, and the first page before the first interval has passed). */
    record,
  };
}

export type MetricsHistory = ReturnType<typeof createMetricsHistory>;
