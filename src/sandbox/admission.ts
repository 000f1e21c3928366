import PQueue from 'p-queue';
import { AppError } from '../errors.js';

export interface AdmissionOptions {
  concurrency: number;
  /** How many executions may wait. */
  queueLimit: number;
  /** How many request-body bytes may wait: parsed bodies live in kiln's heap while they wait. */
  queueBytesLimit: number;
}

/** Bounds how many executions run at once and how much may wait; past that, 429 at once, never a hang. */
export function createAdmission(opts: AdmissionOptions) {
  const queue = new PQueue({ concurrency: opts.concurrency });
  let waitingBytes = 0;
  const busy = (why: string, reason: string) =>
    new AppError('BUSY', `kiln is at capacity (${why}); retry shortly`, [{ reason }], 1);

  return {
    /**
     * Runs fn now or after the ones ahead of it. Throws BUSY when the wait list is full;
     * a request whose client has gone (signal aborted) leaves the wait list without running.
     */
    async submit<T>(fn: () => Promise<T>, opts2: { bytes?: number; signal?: AbortSignal } = {}): Promise<T> {
      const bytes = opts2.bytes ?? 0;
      const mustWait = queue.pending >= opts.concurrency;
      if (mustWait && queue.size >= opts.queueLimit) throw busy(`${queue.pending} running, ${queue.size} waiting`, 'queue_full');
      if (mustWait && waitingBytes + bytes > opts.queueBytesLimit) throw busy('too many request bytes waiting', 'queue_bytes_full');
      waitingBytes += bytes;
      let started = false;
      try {
        return (await queue.add(
          () => {
            started = true;
            waitingBytes -= bytes;
            return fn();
          },
          { signal: opts2.signal },
        )) as T;
      } catch (error) {
        if (!started) waitingBytes -= bytes;
        if (!started && opts2.signal?.aborted)
          throw new AppError('BAD_REQUEST', 'the client closed the request before it ran', [{ reason: 'client_closed' }]);
        throw error;
      }
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
