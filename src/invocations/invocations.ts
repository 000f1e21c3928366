import type { ExecutionRequest } from '../execution/request.js';
import { newId } from '../ids.js';
import type { InvocationRecord } from '../store/invocations/records.js';
import type { Page } from '../store/page.js';
import { createHousekeeping, TICK_MS } from './housekeeping.js';
import { aad, createRuns, enqueue, type RunDeps, type Sealed } from './runs.js';

export { INTERRUPTED_REASON } from './housekeeping.js';

/**
 * Async invocations: accepted (checked, sealed, stored, queued) before the 202 goes out, run by
 * workers through the one executor as background work, ended with a status, and never lost: a
 * queued one waits in the store across restarts; one whose run the engine could not start is
 * queued again; one that was running when kiln died ends `interrupted` (INTERRUPTED_REASON).
 */
export function createInvocations(
  deps: RunDeps & {
    /**
     * Set when other kilns share the store (replicas on Postgres): this one only ends what kilns that
     * stopped saying they are alive for `replicaTimeoutMs` left running. Unset (the embedded store,
     * one kiln), whatever another owner left running was left by a kiln that is gone.
     */
    replicas?: { instance: string; replicaTimeoutMs: number; url?: string | null };
  },
) {
  const { store, box } = deps;
  const runs = createRuns(deps);
  const { tick, alive, peers } = createHousekeeping({ ...deps, runningIds: runs.runningIds, abort: runs.abort });
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();

  return {
    /** The project's invocations through one surface (MCP's tasks/list) or any (null), newest first. */
    list: (project: string, via: InvocationRecord['via'] | null, page: Page) => store.list(project, via, page),
    get: (project: string, id: string) => store.get(project, id),
    /** The kilns of the store alive now, as the orphans' rule judges them (sessions use the same rule). */
    liveOwners: alive,
    /** Where the other live kilns are reached (KILN_REPLICA_URL): a run not held here may be on one. */
    peers,
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
      await enqueue(deps.queue, id, (within) => store.create(record, sealed, within));
      return record;
    },

    /**
     * Cancels a queued invocation at once, or stops a running one (its execution then ends with
     * stop_reason `cancelled`). Answers the status it has now; null when the project has no such one.
     */
    async cancel(project: string, id: string): Promise<InvocationRecord | null> {
      const status = await store.requestCancel(project, id, new Date().toISOString());
      if (status === 'cancelled') deps.onEnded?.();
      if (status === 'running') runs.abort(id); // run elsewhere: that kiln sees the mark within a second
      return status === null ? null : store.get(project, id);
    },

    /** Ends what dead kilns left running, then starts the workers on what is queued. */
    async start(): Promise<void> {
      await tick();
      await deps.queue.start(runs.run);
      if (!deps.replicas) return; // alone on its store: nothing else can leave orphans or cancel
      timer = setInterval(() => {
        ticking = ticking.then(tick).catch((err: unknown) => deps.log.warn({ err }, 'invocation housekeeping failed'));
      }, TICK_MS);
      timer.unref();
    },

    /** Takes no more work and lets what runs finish (SIGTERM); what waits stays queued. */
    async stop(): Promise<void> {
      runs.stopping();
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
