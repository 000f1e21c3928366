import type { Logger } from 'pino';
import { AppError, storeUnavailable } from '../errors.js';
import type { Execute } from '../execution/executor.js';
import type { ExecutionRequest } from '../execution/request.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { RunEvents } from '../execution/run-events.js';
import type { InvocationStore, WithinTransaction } from '../store/invocations/records.js';
import type { ExecutionRecord } from '../store/store.js';
import type { InvocationQueue } from './queue.js';

/** How long an invocation waits before another try when the engine is down: doubling from 5 s to 5 min. */
export const retryDelayMs = (tries: number) => Math.min(300_000, 5_000 * 2 ** Math.min(tries, 6));

/** What an accepted invocation's row holds, sealed: the request as checked, and its size for admission. */
export interface Sealed {
  request: ExecutionRequest;
  bytes: number;
}
/** The sealed request is bound to its invocation: a row's request cannot be replayed under another id. */
export const aad = (id: string) => `invocation/${id}`;

/** Writes the row (`write`) and queues it: in one transaction when the queue lives in the store's database. */
export async function enqueue(
  queue: InvocationQueue,
  id: string,
  write: (within?: WithinTransaction) => Promise<void>,
  delayMs = 0,
): Promise<void> {
  if (!queue.transactional) {
    await write();
    return queue.add(id, { delayMs });
  }
  await write((tx) => queue.add(id, { delayMs, tx }));
  if (delayMs <= 0) queue.nudge();
}

/** What this kiln keeps about an invocation it has run: its cancel while it runs, and its engine-down retries so far. */
interface Local {
  cancel: AbortController | null;
  /** In memory: a restart starts them over, which is fine. */
  retries: number;
}

/** What running invocations needs (and createInvocations, which adds the replicas' setting). */
export interface RunDeps {
  store: InvocationStore;
  execute: Execute;
  /** Writes a run's entry in the executions log that the executor could not (the database was away). */
  recordExecution: (record: ExecutionRecord) => Promise<void>;
  box: SecretBox;
  /** Where a run's events are kept for the clients that follow it (GET /v1/executions/{id}/events). */
  runEvents?: RunEvents;
  queue: InvocationQueue;
  log: Logger;
  /** This kiln process's name for the runs it claims: `<instance>/<boot>`. */
  owner: string;
  /** Called when an invocation has ended (the webhook deliverer wakes). */
  onEnded?: () => void;
}

/** The worker side: one queued invocation claimed, opened, run through the executor, and ended. */
export function createRuns(deps: RunDeps) {
  const { store, log } = deps;
  const local = new Map<string, Local>();
  let stopping = false;

  async function end(id: string, status: 'finished' | 'failed' | 'cancelled', reason: string | null) {
    if (await store.end(id, { status, reason, at: new Date().toISOString() })) deps.onEnded?.();
  }

  /**
   * Writes an invocation's next state, trying again every 5 s while the database is away. Should
   * this kiln stop first, the invocation is left `running` under it, and another kiln (or its own
   * next start) ends it by the crash rule.
   */
  async function persist(id: string, write: () => Promise<unknown>): Promise<void> {
    for (;;) {
      try {
        return void (await write());
      } catch (err) {
        if (stopping) return log.warn({ err: String(err), invocation: id }, "could not record an invocation's state before stopping");
        log.warn({ err: String(err), invocation: id }, "could not record an invocation's state; trying again in 5 s");
        await new Promise((r) => setTimeout(r, 5_000));
      }
    }
  }

  /** The run is over, one way or the other: its state is written, or it is queued again (the engine or the database was away). */
  async function failed(id: string, state: Local, err: unknown): Promise<'retry' | 'ended'> {
    // the engine or the database away before the run began: accepted means run, so it waits
    if ((err instanceof AppError && err.code === 'SANDBOX_UNAVAILABLE') || storeUnavailable(err)) {
      const delay = retryDelayMs(state.retries++);
      await persist(id, () => enqueue(deps.queue, id, (within) => store.requeue(id, within), delay));
      return 'retry';
    }
    if (!(err instanceof AppError)) log.error({ err, invocation: id }, 'an invocation failed in kiln');
    // e.g. a secret or a runtime deleted after it was accepted: the run cannot be made
    await persist(id, () => end(id, 'failed', err instanceof AppError ? err.message : 'internal error'));
    return 'ended';
  }

  async function run(id: string): Promise<void> {
    const sealed = await store.sealedRequest(id);
    if (!sealed || !(await store.claim(id, deps.owner, new Date().toISOString()))) return; // ended, cancelled, or taken
    const state = local.get(id) ?? { cancel: null, retries: 0 };
    local.set(id, state);
    const cancel = new AbortController();
    state.cancel = cancel;
    // which kiln ran what (replicas): one line when it starts, one when it ends
    log.info({ invocation: id }, 'invocation started');
    let outcome: 'retry' | 'ended' = 'ended';
    try {
      // (a secrets key changed since it was accepted cannot open it: that ends it failed, below)
      const { request, bytes } = JSON.parse(deps.box.open(sealed, aad(id))) as Sealed;
      // recorded for clients that follow it (its answer is its status, rendered where it is read)
      const recorder = deps.runEvents?.recorder(request.project);
      const e = await deps
        .execute(request, { bytes, background: true, cancel: cancel.signal, ...(recorder ? { stream: recorder } : {}) })
        .finally(() => recorder?.end(null));
      const cancelled = e.result.stopReason === 'cancelled';
      // it ran: from here it may only end, never run again (a database away meanwhile is waited for);
      // its result is the invocation's answer, so a log entry missed meanwhile is written now
      const unrecorded = e.unrecorded;
      if (unrecorded) await persist(id, () => deps.recordExecution(unrecorded));
      await persist(id, () => end(id, cancelled ? 'cancelled' : 'finished', cancelled ? 'cancelled while it ran' : null));
      log.info({ invocation: id, stopReason: e.result.stopReason }, 'invocation ended');
    } catch (err) {
      outcome = await failed(id, state, err);
    } finally {
      state.cancel = null;
    }
    if (outcome === 'ended') local.delete(id);
  }

  return {
    run,
    /** The invocations running here now. */
    runningIds: () => [...local].filter(([, s]) => s.cancel).map(([id]) => id),
    /** Stops a run here, if this kiln runs it (its execution ends with stop_reason `cancelled`). */
    abort: (id: string) => local.get(id)?.cancel?.abort(),
    /** From now on a state the database does not take is left for the crash rule, not retried. */
    stopping: () => {
      stopping = true;
    },
  };
}
