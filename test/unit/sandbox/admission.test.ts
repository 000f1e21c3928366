import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { createAdmission } from '../../../src/sandbox/admission.js';

/** A job that runs until released. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { job: () => done.then(() => 'ran'), release };
}

describe('admission', () => {
  it("background work is never refused, and a caller's request goes ahead of it in the wait list", async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 1, queueBytesLimit: 1000, maxWaitMs: 60_000 });
    const g = gate();
    const order: string[] = [];
    const running = a.submit(g.job);
    const background = [1, 2, 3].map((i) => a.submit(async () => void order.push(`bg${i}`), { background: true }));
    // three background jobs wait, yet the wait list has room for a caller, who goes first
    const caller = a.submit(async () => void order.push('caller'));
    g.release();
    await Promise.all([running, caller, ...background]);
    expect(order).toEqual(['caller', 'bg1', 'bg2', 'bg3']);
  });

  it('runs up to the concurrency at once and queues the rest', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 5, queueBytesLimit: 1000, maxWaitMs: 60_000 });
    const g = gate();
    const first = a.submit(g.job);
    const second = a.submit(async () => 'second');
    expect(a.running).toBe(1);
    expect(a.waiting).toBe(1);
    g.release();
    expect(await first).toBe('ran');
    expect(await second).toBe('second');
  });

  it('answers 429 (BUSY, queue_full) at once when the wait list is full', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 1, queueBytesLimit: 1000, maxWaitMs: 60_000 });
    const g = gate();
    const running = a.submit(g.job);
    const waiting = a.submit(g.job);
    const err = await a.submit(g.job).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BUSY');
    expect((err as AppError).details?.[0]?.reason).toBe('queue_full');
    expect((err as AppError).retryAfterSeconds).toBe(1);
    g.release();
    await Promise.all([running, waiting]);
  });

  it('bounds the bytes that wait, and frees them when a job starts', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 10, queueBytesLimit: 100, maxWaitMs: 60_000 });
    const g = gate();
    const running = a.submit(g.job, { bytes: 1000 }); // runs at once: running bodies are not counted
    const waiting = a.submit(g.job, { bytes: 60 });
    const err = await a.submit(g.job, { bytes: 60 }).catch((e: unknown) => e);
    expect((err as AppError).details?.[0]?.reason).toBe('queue_bytes_full');
    g.release();
    await Promise.all([running, waiting]);
    const g2 = gate();
    const r2 = a.submit(g2.job, { bytes: 60 });
    const w2 = a.submit(g2.job, { bytes: 90 }); // 90 fits again: the earlier 60 left the queue
    g2.release();
    expect(await Promise.all([r2, w2])).toEqual(['ran', 'ran']);
  });

  it('keeps the slot of a running job whose client went away (its container still runs)', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 10, queueBytesLimit: 100, maxWaitMs: 60_000 });
    const g = gate();
    const controller = new AbortController();
    const running = a.submit(g.job, { signal: controller.signal });
    controller.abort();
    await new Promise((r) => setImmediate(r));
    expect(a.running).toBe(1);
    g.release();
    expect(await running).toBe('ran');
  });

  it('drops a waiting job whose client went away, without running it', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 10, queueBytesLimit: 100, maxWaitMs: 60_000 });
    const g = gate();
    const running = a.submit(g.job);
    const controller = new AbortController();
    let ran = false;
    const waiting = a.submit(async () => (ran = true), { bytes: 50, signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    g.release(); // its turn comes: it is dropped then, without running
    await running;
    const err = await waiting;
    expect((err as AppError).details?.[0]?.reason).toBe('client_closed');
    await a.idle();
    expect(ran).toBe(false);
    // its bytes were returned: a 100-byte body may wait again
    const g3 = gate();
    const r3 = a.submit(g3.job);
    const w3 = a.submit(g3.job, { bytes: 100 });
    g3.release();
    await Promise.all([r3, w3]);
  });

  it('answers 429 (expected_wait) when the jobs ahead would hold a new one past the bound', async () => {
    const a = createAdmission({ concurrency: 1, queueLimit: 100, queueBytesLimit: 1e9, maxWaitMs: 150 });
    const job = () => new Promise<string>((r) => setTimeout(() => r('ran'), 100));
    // learn the pace under load: each job ~100 ms, one slot
    await Promise.all([a.submit(job), a.submit(job), a.submit(job)]);
    const g = gate();
    const running = a.submit(g.job);
    const first = a.submit(job); // ~100 ms ahead: within the bound
    const err = await a.submit(job).catch((e: unknown) => e); // ~200 ms ahead: past it
    expect((err as AppError).code).toBe('BUSY');
    expect((err as AppError).details?.[0]?.reason).toBe('expected_wait');
    expect((err as AppError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    g.release();
    expect(await Promise.all([running, first])).toEqual(['ran', 'ran']);
  });
});
