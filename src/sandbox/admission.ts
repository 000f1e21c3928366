import PQueue from 'p-queue';
import { AppError } from '../errors.js';

export interface AdmissionOptions {
  concurrency: number;
  /** How many executions may wait. */
  queueLimit: number;
  /** How many request-body bytes may wait: parsed bodies live in kiln's heap while they wait. */
  queueBytesLimit: number;
  /** Longest expected wait before running; past it, 429 at once rather than a slow answer. */
  maxWaitMs: number;
}

/** Bounds how many executions run at once and how much may wait; past that, 429 at once, never a hang. */
export function createAdmission(opts: AdmissionOptions) {
  const queue = new PQueue({ concurrency: opts.concurrency });
  let waitingBytes = 0;
  /** Background jobs in the wait list: a caller's request goes ahead of them, so they do not count in its wait. */
  let backgroundWaiting = 0;
  const aheadOfCaller = () => queue.size - backgroundWaiting;
  // moving average of how long a job holds its slot, and the times slots were last freed
  let serviceMs = 0;
  const freed: number[] = [];
  const WINDOW_MS = 10_000;
  const busy = (why: string, reason: string, retryAfterSeconds = 1) =>
    new AppError('BUSY', `kiln is at capacity (${why}); retry shortly`, [{ reason }], retryAfterSeconds);
  /**
   * Expected wait of a job submitted now, all slots busy: every job not yet answered is ahead of it
   * (running jobs may themselves still wait for a sandbox), and jobs finish at the rate they did lately
   * under load (Little's law). Without that history: waves of jobs each as long as an average job.
   */
  const expectedWaitMs = () => {
    const now = performance.now();
    while (freed.length && freed[0]! < now - WINDOW_MS) freed.shift();
    if (freed.length >= Math.max(2, opts.concurrency)) {
      const interval = (freed.at(-1)! - freed[0]!) / (freed.length - 1);
      return (aheadOfCaller() + queue.pending) * interval;
    }
    return Math.ceil((aheadOfCaller() + 1) / opts.concurrency) * serviceMs;
  };

  return {
    /**
     * Runs fn now or after the ones ahead of it. Throws BUSY when the wait list is full;
     * a request whose client has gone (signal aborted) leaves the wait list without running.
     * Background work (async invocations, whose backlog waits in their own durable queue and
     * whose workers bound how many are here at once) is never refused, and every caller's request
     * goes ahead of it in the wait list: a caller waits behind running work only.
     */
    async submit<T>(fn: () => Promise<T>, opts2: { bytes?: number; signal?: AbortSignal; background?: boolean } = {}): Promise<T> {
      const bytes = opts2.bytes ?? 0;
      const background = opts2.background === true;
      const mustWait = !background && queue.pending >= opts.concurrency;
      if (mustWait && aheadOfCaller() >= opts.queueLimit) throw busy(`${queue.pending} running, ${aheadOfCaller()} waiting`, 'queue_full');
      if (mustWait && waitingBytes + bytes > opts.queueBytesLimit) throw busy('too many request bytes waiting', 'queue_bytes_full');
      if (mustWait && expectedWaitMs() > opts.maxWaitMs) {
        const wait = expectedWaitMs();
        throw busy(`expected wait ${(wait / 1000).toFixed(1)} s`, 'expected_wait', Math.max(1, Math.ceil((wait - opts.maxWaitMs) / 1000)));
      }
      if (background) {
        backgroundWaiting++;
        return (await queue.add(
          () => {
            backgroundWaiting--;
            return fn();
          },
          { priority: -1 },
        )) as T;
      }
      waitingBytes += bytes;
      // The signal only matters while the job waits: p-queue would free the slot of a *running* job
      // whose signal aborts, while its container runs on. So it is checked when the job's turn comes.
      return (await queue.add(async () => {
        waitingBytes -= bytes;
        if (opts2.signal?.aborted)
          throw new AppError('BAD_REQUEST', 'the client closed the request before it ran', [{ reason: 'client_closed' }]);
        const began = performance.now();
        try {
          return await fn();
        } finally {
          const now = performance.now();
          serviceMs = serviceMs === 0 ? now - began : serviceMs * 0.8 + (now - began) * 0.2;
          // only completions under load measure capacity; an idle gap would make it look smaller
          if (queue.size > 0 || queue.pending >= opts.concurrency) freed.push(now);
          if (freed.length > 1000) freed.shift();
        }
      })) as T;
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
