// The bench's two ways of loading kiln, shared by every kiln it starts: the same loop and the same
// pacing wherever a figure is taken, so figures from two kilns (runc and runsc) compare like for like.
import { row, sleep, type Row } from './stats.js';

/** Runs `one` n times with `concurrency` in flight (closed loop); returns latencies and wall time. */
export async function closedLoop(n: number, concurrency: number, one: () => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        await one();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

/** Runs `one` n times, one at a time, starting one every `paceMs` (or as soon as the last answered). */
export async function paced(n: number, paceMs: number, one: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await one();
    latencies.push(performance.now() - t);
    await sleep(Math.max(0, paceMs - (performance.now() - t)));
  }
  return latencies;
}

/** Saturation: n executions, alternating between `bodies`, closed loop at the concurrency bound. */
export async function saturate(
  name: string,
  n: number,
  concurrency: number,
  bodies: object[],
  call: (body: object) => Promise<unknown>,
): Promise<Row> {
  let k = 0;
  const { latencies, seconds } = await closedLoop(n, concurrency, () => call(bodies[k++ % bodies.length]!));
  return row(name, latencies, seconds);
}
