import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { createMetricsHistory, quantileBetween } from '../../src/metrics-history.js';

describe("kiln's metrics over the last hour", () => {
  it('reads rates, latency quantiles, refusals, pools, slots and builds from the registry, per interval', async () => {
    const metrics = createMetrics();
    let running = 3;
    metrics.sources.running = () => running;
    metrics.sources.builds = () => 2;
    const history = createMetricsHistory(metrics, { keep: 3 });
    await history.record();
    // between two looks: 10 executions, 9 of 20 ms and one of 4 s; two refusals
    for (let i = 0; i < 9; i++) metrics.duration.observe({ language: 'python' }, 0.02);
    metrics.duration.observe({ language: 'javascript' }, 4);
    metrics.executions.inc({ language: 'python', outcome: 'valid' }, 10);
    metrics.rejections.inc({ reason: 'queue_full' }, 2);
    metrics.rejections.inc({ reason: 'client_closed' }, 5); // not a 429
    metrics.poolReady.set({ language: 'python' }, 4);
    metrics.queueWaiting.set(5);
    running = 1;
    await new Promise((r) => setTimeout(r, 50));
    await history.record();
    const [first, second] = history.samples();
    expect(first).toMatchObject({ running: 3, perSecond: 0, p50: null, p99: null, refused: 0 });
    expect(second).toMatchObject({ running: 1, waiting: 5, builds: 2, refused: 2, ready: { python: 4 } });
    expect(second!.perSecond).toBeGreaterThan(10); // 10 in ~50 ms
    expect(second!.p50).toBeGreaterThan(10);
    expect(second!.p50).toBeLessThanOrEqual(25);
    expect(second!.p99).toBeGreaterThan(2500);
    expect(second!.p99).toBeLessThanOrEqual(5000);
    // a quiet interval: no latency, no refusals
    await history.record();
    expect(history.samples()[2]).toMatchObject({ p50: null, p99: null, refused: 0, perSecond: 0 });
    // no more than it keeps
    await history.record();
    expect(history.samples()).toHaveLength(3);
  });

  it('takes a quantile within its bucket, and the last finite bound past it', () => {
    const before = new Map([
      [0.1, 0],
      [1, 0],
      [Number.POSITIVE_INFINITY, 0],
    ]);
    const after = new Map([
      [0.1, 50],
      [1, 100],
      [Number.POSITIVE_INFINITY, 110],
    ]);
    expect(quantileBetween(before, before, 0.5)).toBeNull();
    expect(quantileBetween(before, after, 0.25)).toBeCloseTo(55, 0); // rank 27.5 of 50 in [0, 0.1] s
    expect(quantileBetween(before, after, 0.99)).toBe(1000);
  });
});
