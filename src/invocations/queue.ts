import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { InvocationStore, SqlExecutor } from '../store/invocations/records.js';

/**
 * Where accepted invocations wait for a worker. The store's row is the invocation's record; a
 * queue hands ids to workers. Two kinds: the local one (one kiln over the embedded store) keeps
 * ids in memory and loads them from the store at start; the shared one (pg-boss, several kilns
 * over Postgres) keeps jobs in the database, added in the transaction that stores the row.
 */
export interface InvocationQueue {
  /** True when `add` must run inside the store's transaction (the queue lives in the same database). */
  readonly transactional: boolean;
  /** Queues a stored invocation, to run after `delayMs` (a retry later); `tx` is the store's transaction. */
  add(id: string, opts?: { delayMs?: number; tx?: SqlExecutor }): Promise<void>;
  /** A job was committed just now by this kiln: wake a worker rather than wait for its poll. */
  nudge(): void;
  /** Starts running what is queued through `handler`, `concurrency` at once. */
  start(handler: (id: string) => Promise<void>): Promise<void>;
  /** Takes no more work; resolves once what runs has ended (what waits stays queued). */
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
    transactional: false,
    async add(id, { delayMs = 0 } = {}) {
      if (delayMs <= 0) return enqueue(id);
      const timer = setTimeout(() => {
        timers.delete(timer);
        enqueue(id);
      }, delayMs);
      timers.add(timer);
    },
    nudge() {},
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
