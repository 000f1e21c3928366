import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { InvocationStore } from '../store/invocation-store.js';

/**
 * Where accepted invocations wait for a worker. The durable record is the store's row (queued
 * before the 202 goes out); a queue only hands ids to workers, so one that loses its memory (a
 * restart) loads them again from the store. The scale-out store replaces this with a job-queue
 * library on Postgres behind the same three calls.
 */
export interface InvocationQueue {
  /** Hands a stored, queued invocation to a worker (after `delayMs`, to retry later). */
  push(id: string, delayMs?: number): void;
  /** Loads what the store has queued and runs each through `handler`, `concurrency` at once. */
  start(handler: (id: string) => Promise<void>): Promise<void>;
  /** Takes no more work; resolves once what runs has ended (what waits stays queued in the store). */
  stop(): Promise<void>;
}

/** The in-process queue over the embedded store: a p-queue of ids, loaded from the store at start. */
export function createLocalQueue(deps: { store: InvocationStore; concurrency: number; log: Logger }): InvocationQueue {
  const workers = new PQueue({ concurrency: deps.concurrency });
  let handler: ((id: string) => Promise<void>) | null = null;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  function enqueue(id: string) {
    if (stopped || !handler) return;
    const run = handler;
    void workers.add(() => run(id)).catch((err: unknown) => deps.log.error({ err, invocation: id }, 'an invocation worker failed'));
  }

  return {
    push(id, delayMs = 0) {
      if (delayMs <= 0) return enqueue(id);
      const timer = setTimeout(() => {
        timers.delete(timer);
        enqueue(id);
      }, delayMs);
      timers.add(timer);
    },
    async start(h) {
      handler = h;
      let after: string | undefined;
      for (;;) {
        const ids = await deps.store.queuedIds(500, after);
        ids.forEach(enqueue);
        if (ids.length < 500) break;
        after = ids.at(-1);
      }
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      workers.clear();
      await workers.onIdle();
    },
  };
}
