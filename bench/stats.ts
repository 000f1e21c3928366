// The bench's shared bookkeeping: every measurement, wherever it is taken, becomes a row of the one
// table bench.ts prints, in the order it was taken.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

export interface Row {
  name: string;
  n: number;
  p50: number;
  p90: number;
  p99: number;
  perSecond?: number;
  note?: string;
}
export const rows: Row[] = [];
export function row(name: string, latencies: number[], seconds?: number, note?: string): Row {
  const l = [...latencies].sort((a, b) => a - b);
  const r = {
    name,
    n: l.length,
    p50: percentile(l, 50),
    p90: percentile(l, 90),
    p99: percentile(l, 99),
    perSecond: seconds ? l.length / seconds : undefined,
    note,
  };
  rows.push(r);
  return r;
}
