import type { Logger } from 'pino';
import { AppError, storeUnavailable } from '../errors.js';
import type { Execute } from '../execution/executor.js';
import type { ExecutionRecord } from '../store/store.js';
import type { ExecutionRequest } from '../execution/request.js';
import { newId } from '../ids.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { InvocationRecord, InvocationStore, WithinTransaction } from '../store/invocation-store.js';
import type { InvocationQueue } from './queue.js';

/** The rule for an invocation that was running when its kiln died: at most once, never run again. */
export const INTERRUPTED_REASON = 'kiln stopped while it ran; it is not run again (at most once)';
/** How long an invocation waits before another try when the engine is down: doubling from 5 s to 5 min. */
const retryDelayMs = (tries: number) => Math.min(300_000, 5_000 * 2 ** Math.min(tries, 6));
/** How often a kiln looks for cancels of what it runs; every few of these it says it is alive and looks for kilns that stopped. */
const TICK_MS = 1_000;
/** Heartbeats come at least five times per replica timeout (so a busy moment is never taken for death), and at most every 5 s. */
const heartbeatTicks = (replicaTimeoutMs: number) => Math.max(1, Math.min(5, Math.floor(replicaTimeoutMs / 5 / TICK_MS)));

interface Sealed {
  request: ExecutionRequest;
  bytes: number;
}

/**
 * Async invocations: accepted (checked, sealed, stored, queued) before the 202 goes out, run by
 * workers through the one executor as background work, ended with a status, and never lost: a
 * queued one waits in the store across restarts; one whose run the engine could not start is
 * queued again; one that was running when kiln died ends `interrupted` (INTERRUPTED_REASON).
 */
export function createInvocations(deps: {
  store: InvocationStore;
  execute: Execute;
  /** Writes a run's entry in the executions log that the executor could not (the database was away). */
  recordExecution: (record: ExecutionRecord) => Promise<void>;
  box: SecretBox;
  queue: InvocationQueue;
  log: Logger;
  /** This kiln process's name for the runs it claims: `<instance>/<boot>`. */
  owner: string;
  /**
   * Set when other kilns share the store (replicas on Postgres): this one only ends what kilns that
   * stopped saying they are alive for `replicaTimeoutMs` left running. Unset (the embedded store,
   * one kiln), whatever another owner left running was left by a kiln that is gone.
   */
  replicas?: { instance: string; replicaTimeoutMs: number };
  /** Called when an invocation has ended (the webhook deliverer wakes). */
  onEnded?: () => void;
}) {
  const { store, box } = deps;
  const aad = (id: string) => `invocation/${id}`;
  /** Runs in progress here, by id: a cancel aborts them. */
  const running = new Map<string, AbortController>();
  /** Engine-down retries so far, by id (in memory: a restart starts them over, which is fine). */
  const retries = new Map<string, number>();

  async function end(id: string, status: 'finished' | 'failed' | 'cancelled', reason: string | null) {
    if (await store.end(id, { status, reason, at: new Date().toISOString() })) deps.onEnded?.();
  }

  /** Writes the row (`write`) and queues it: in one transaction when the queue lives in the store's database. */
  async function enqueue(id: string, write: (within?: WithinTransaction) => Promise<void>, delayMs = 0): Promise<void> {
    if (!deps.queue.transactional) {
      await write();
      return deps.queue.add(id, { delayMs });
    }
    await write((tx) => deps.queue.add(id, { delayMs, tx }));
    if (delayMs <= 0) deps.queue.nudge();
  }

  /**
   * The owners whose runs stand. Alone on the embedded store: this kiln only. With replicas: every
   * kiln seen within the replica timeout — but only once this one has itself been heard without a
   * break for that long (since its start, or since the database came back), as the others needed
   * that time to be heard too; until then only an earlier process of this same instance counts as gone.
   */
  async function alive(): Promise<string[]> {
    if (!deps.replicas) return [deps.owner];
    const { instance, replicaTimeoutMs } = deps.replicas;
    const judging = heardSince !== null && Date.now() - heardSince >= replicaTimeoutMs;
    const live = await store.liveOwners(judging ? new Date(Date.now() - replicaTimeoutMs).toISOString() : new Date(0).toISOString());
    // an earlier process of this same instance (restarted since) is gone, however recently it was seen
    return [deps.owner, ...live.filter((o) => o !== deps.owner && !o.startsWith(`${instance}/`))];
  }

  async function endOrphans(): Promise<void> {
    const orphans = await store.endOrphans(await alive(), new Date().toISOString(), INTERRUPTED_REASON);
    if (!orphans.length) return;
    deps.log.warn({ invocations: orphans }, 'invocations that were running when their kiln stopped ended as interrupted');
    deps.onEnded?.();
  }

  /** Heartbeat, orphans and remote cancels (replicas): every TICK_MS, the first two every few ticks. */
  let ticks = 0;
  let heardSince: number | null = null;
  const every = heartbeatTicks(deps.replicas?.replicaTimeoutMs ?? 30_000);
  async function tick(): Promise<void> {
    if (ticks++ % every === 0) {
      try {
        await store.heartbeat(deps.owner, new Date().toISOString());
        heardSince ??= Date.now();
      } catch (err) {
        heardSince = null; // not heard: others may take this one for dead, and it must not judge them
        throw err;
      }
      await endOrphans();
    }
    // a cancel through another kiln is written on the row: the kiln running it reads it here
    for (const id of await store.cancelRequested([...running.keys()])) running.get(id)?.abort();
  }
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();

  /**
   * Writes an invocation's next state, trying again every 5 s while the database is away. Should
   * this kiln stop first, the invocation is left `running` under it, and another kiln (or its own
   * next start) ends it by the crash rule.
   */
  let stopping = false;
  async function persist(id: string, write: () => Promise<unknown>): Promise<void> {
    for (;;) {
      try {
        return void (await write());
      } catch (err) {
        if (stopping) return deps.log.warn({ err: String(err), invocation: id }, "could not record an invocation's state before stopping");
        deps.log.warn({ err: String(err), invocation: id }, "could not record an invocation's state; trying again in 5 s");
        await new Promise((r) => setTimeout(r, 5_000));
      }
    }
  }

  async function run(id: string): Promise<void> {
    const sealed = await store.sealedRequest(id);
    if (!sealed || !(await store.claim(id, deps.owner, new Date().toISOString()))) return; // ended, cancelled, or taken
    const cancel = new AbortController();
    running.set(id, cancel);
    // which kiln ran what (replicas): one line when it starts, one when it ends
    deps.log.info({ invocation: id }, 'invocation started');
    try {
      // (a secrets key changed since it was accepted cannot open it: that ends it failed, below)
      const { request, bytes } = JSON.parse(box.open(sealed, aad(id))) as Sealed;
      const e = await deps.execute(request, { bytes, background: true, cancel: cancel.signal });
      const cancelled = e.result.stopReason === 'cancelled';
      // it ran: from here it may only end, never run again (a database away meanwhile is waited for);
      // its result is the invocation's answer, so a log entry missed meanwhile is written now
      if (e.unrecorded) await persist(id, () => deps.recordExecution(e.unrecorded!));
      await persist(id, () => end(id, cancelled ? 'cancelled' : 'finished', cancelled ? 'cancelled while it ran' : null));
      deps.log.info({ invocation: id, stopReason: e.result.stopReason }, 'invocation ended');
    } catch (err) {
      // the engine or the database away before the run began: accepted means run, so it waits
      if ((err instanceof AppError && err.code === 'SANDBOX_UNAVAILABLE') || storeUnavailable(err)) {
        const tries = retries.get(id) ?? 0;
        retries.set(id, tries + 1);
        await persist(id, () => enqueue(id, (within) => store.requeue(id, within), retryDelayMs(tries)));
        return;
      }
      if (!(err instanceof AppError)) deps.log.error({ err, invocation: id }, 'an invocation failed in kiln');
      // e.g. a secret or a runtime deleted after it was accepted: the run cannot be made
      await persist(id, () => end(id, 'failed', err instanceof AppError ? err.message : 'internal error'));
    } finally {
      running.delete(id);
    }
    retries.delete(id);
  }

  return {
    /**
     * Checks `req` as its run would, then stores it sealed and queues it: when this resolves, the
     * invocation survives a crash. A tool runs at the revision it resolved to now.
     */
    async accept(req: ExecutionRequest, opts: { bytes: number; callbackUrl?: string | null }): Promise<InvocationRecord> {
      const id = newId('exec');
      const { tool } = await deps.execute.check(req);
      const request: ExecutionRequest = {
        ...req,
        id,
        ...(req.target.kind === 'tool' && tool ? { target: { ...req.target, revisionId: tool.revisionId } } : {}),
      };
      const record: InvocationRecord = {
        id,
        project: req.project,
        via: req.via ?? 'api',
        status: 'queued',
        reason: null,
        callbackUrl: opts.callbackUrl ?? null,
        createdAt: new Date().toISOString(),
        startedAt: null,
        endedAt: null,
        webhook: null,
      };
      const sealed = box.seal(JSON.stringify({ request, bytes: opts.bytes } satisfies Sealed), aad(id));
      await enqueue(id, (within) => store.create(record, sealed, within));
      return record;
    },

    /**
     * Cancels a queued invocation at once, or stops a running one (its execution then ends with
     * stop_reason `cancelled`). Answers the status it has now; null when the project has no such one.
     */
    async cancel(project: string, id: string): Promise<InvocationRecord | null> {
      const status = await store.requestCancel(project, id, new Date().toISOString());
      if (status === 'cancelled') deps.onEnded?.();
      if (status === 'running') running.get(id)?.abort(); // run elsewhere: that kiln sees the mark within a second
      return status === null ? null : store.get(project, id);
    },

    /** Ends what dead kilns left running, then starts the workers on what is queued. */
    async start(): Promise<void> {
      await tick();
      await deps.queue.start(run);
      if (!deps.replicas) return; // alone on its store: nothing else can leave orphans or cancel
      timer = setInterval(() => {
        ticking = ticking.then(tick).catch((err: unknown) => deps.log.warn({ err }, 'invocation housekeeping failed'));
      }, TICK_MS);
      timer.unref();
    },

    /** Takes no more work and lets what runs finish (SIGTERM); what waits stays queued. */
    async stop(): Promise<void> {
      stopping = true;
      await deps.queue.stop();
      clearInterval(timer);
      await ticking;
      // gone cleanly: nothing of this kiln is running; rows of kilns gone a day are dropped too (with
      // the database away, the row just ages out: the drain must go on to remove this kiln's boxes)
      await store
        .forgetOwners(deps.owner, new Date(Date.now() - 86_400_000).toISOString())
        .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'could not say this kiln has left; its heartbeat ages out'));
    },
  };
}

export type Invocations = ReturnType<typeof createInvocations>;
