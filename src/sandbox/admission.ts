import PQueue from 'p-queue';
import { AppError } from '../errors.js';

/** Bounds how many executions run at once and how many may wait; past that, 429 at once. */
export function createAdmission(opts: { concurrency: number; queueLimit: number }) {
  const queue = new PQueue({ concurrency: opts.concurrency });
  return {
    /** Runs fn now or after the ones ahead of it; throws BUSY when the wait list is full. */
    submit<T>(fn: () => Promise<T>): Promise<T> {
      if (queue.pending >= opts.concurrency && queue.size >= opts.queueLimit)
        throw new AppError('BUSY', `kiln is at capacity (${opts.concurrency} running, ${queue.size} waiting); retry shortly`, [
          { reason: 'queue_full' },
        ], 1);
      return queue.add(fn) as Promise<T>;
    },
    get waiting() {
      return queue.size;
    },
    get running() {
      return queue.pending;
    },
    /** Resolves when nothing runs or waits (used by the SIGTERM drain). */
    idle: () => queue.onIdle(),
  };
}

export type Admission = ReturnType<typeof createAdmission>;
