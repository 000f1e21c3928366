/**
 * Sessions: a box an agent keeps across calls (issue 23). This file is their lifecycle: create
 * (a warm box from the pool when one fits, put in session mode), read, keep alive, end (deleted,
 * idle, past its lifetime, its box gone), pause (its kiln stops: the workspace checkpointed, the
 * box removed) and resume (its next call, on any kiln of the store: a fresh box, the checkpoint
 * put back), and the bounds on how many run. The calls made in a session are in ./session-calls.ts;
 * kiln's side of the box in ./session-box.ts; its checkpoints in ./session-checkpoints.ts.
 */
import { AppError, fieldError } from '../errors.js';
import { newId } from '../ids.js';
import type { Page } from '../store/page.js';
import type { StageTimer } from '../timings.js';
import type { SessionEndReason, SessionRecord, SessionStatus } from '../store/sessions/records.js';
import { createSessionKeeper } from './session-keeper.js';
import { boundedOpening, deadlines, ended, iso, type LiveSession, newRecord, openLive, type SessionCreate } from './session-open.js';
import { reopen, type ResumeDeps, type Seen } from './session-resume.js';
import { sealSpec } from './session-spec.js';

export type { LiveSession, SessionCreate };

/** A session whose box another live kiln holds: its calls go there (src/api/riza/session-forward.ts). */
export class SessionElsewhere extends AppError {
  constructor(
    readonly record: SessionRecord,
    readonly ownerUrl: string | null,
  ) {
    super('SANDBOX_UNAVAILABLE', `session ${record.id} is held by another kiln (${record.owner}); send its calls there`, [
      { field: 'id', reason: 'session_elsewhere' },
    ]);
  }
}

const notFound = (id: string) => new AppError('NOT_FOUND', `session ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
/** Once kiln's stop has begun no call is taken: a paused session must not be resumed by a kiln on its way out. */
const stopping = () =>
  new AppError(
    'SANDBOX_UNAVAILABLE',
    'kiln is stopping; retry (the session resumes on the next start or another replica)',
    [{ reason: 'stopping' }],
    2,
  );

type Opened = Awaited<ReturnType<typeof openLive>>;

/** A session whose box was just opened, held live by this kiln. */
function holdLive(live: Map<string, LiveSession>, record: SessionRecord, opened: Opened): LiveSession {
  const session: LiveSession = {
    record,
    box: opened.box,
    lease: opened.lease,
    secretValues: opened.secretValues,
    busy: 0,
    contexts: new Set(),
    dirty: false,
    restoredUnsaid: record.restored,
    tools: opened.tools,
  };
  live.set(record.id, session);
  return session;
}

/** An idle timeout asked for (E2B's setTimeout): a 400 past the setting's maximum. */
function withinIdleMaximum(config: ResumeDeps['config'], seconds: number): number {
  const max = config.KILN_SESSION_MAX_IDLE_TIMEOUT_SECONDS;
  if (seconds > max) throw fieldError('timeout', 'above_maximum', `must be at most ${max} seconds (KILN_SESSION_MAX_IDLE_TIMEOUT_SECONDS)`);
  return seconds;
}

/**
 * Pausing on request (E2B's pause): a session this kiln holds has its workspace checkpointed and its
 * box removed (files kept, processes and interpreter state not); its next call resumes it. 409 when
 * it is paused already, or being paused; a failed checkpoint leaves it running (a 503 that says so).
 */
function requestedPause(deps: {
  live: Map<string, LiveSession>;
  store: ResumeDeps['store'];
  pause: (session: LiveSession) => Promise<'paused' | 'not_saved' | 'gone'>;
}) {
  const { live, store } = deps;
  const pausing = new Set<string>();
  const paused = (id: string, what: string) => new AppError('CONFLICT', `session ${id} is ${what}`, [{ field: 'id', reason: 'paused' }]);
  return async (project: string, id: string): Promise<SessionRecord> => {
    const session = live.get(id);
    if (!session || session.record.project !== project) {
      const record = await store.get(project, id);
      if (!record) throw notFound(id);
      if (record.status === 'ended') throw ended(record);
      if (record.status === 'paused') throw paused(id, 'paused already');
      throw new SessionElsewhere(record, record.ownerUrl);
    }
    if (pausing.has(id)) throw paused(id, 'being paused already');
    pausing.add(id);
    try {
      if ((await deps.pause(session)) === 'not_saved')
        throw new AppError('SANDBOX_UNAVAILABLE', `session ${id} could not be checkpointed; it runs on, not paused`, [
          { field: 'id', reason: 'checkpoint_failed' },
        ]);
    } finally {
      pausing.delete(id);
    }
    const record = await store.get(project, id);
    if (!record) throw notFound(id);
    if (record.status === 'ended') throw ended(record);
    return record;
  };
}

export function createSessions(
  deps: ResumeDeps & {
    /** The kilns of the store alive now (replicas); unset, this kiln is the store's only one. */
    liveOwners?: () => Promise<string[]>;
  },
) {
  const { config, store, log } = deps;
  const live = new Map<string, LiveSession>();
  /** Resumes under way: a second call for the same session waits for the first's. */
  const resuming = new Map<string, Promise<LiveSession>>();
  const instance = deps.owner.slice(0, deps.owner.lastIndexOf('/'));

  const opening = boundedOpening(config, live);

  const hold = (record: SessionRecord, opened: Opened) => holdLive(live, record, opened);

  async function create(project: string, req: SessionCreate, timer?: StageTimer): Promise<SessionRecord> {
    const { idle, lifetime } = deadlines(config, req);
    return opening(project, async () => {
      const id = newId('sess');
      const onEnd = (detail: string) => void end(id, 'box_ended', detail);
      const opened = await openLive(deps, { project, id, req, lifetime, withFiles: true, timer }, onEnd);
      const record = newRecord({
        ...{ id, project, owner: deps.owner, ownerUrl: deps.ownerUrl, idle, lifetime, job: opened.job },
        ...{ language: req.language, runtimeRevisionId: req.runtimeRevisionId ?? null, labels: req.labels, createdBy: req.createdBy },
      });
      hold(record, opened);
      try {
        await store.create(record, sealSpec(deps.secretBox, project, id, req));
        timer?.mark('log');
      } catch (error) {
        await end(id, 'deleted', 'the store refused the session');
        throw error;
      }
      log.info({ session: id, project, language: req.language, pooled: opened.lease.pooled }, 'session started');
      return record;
    });
  }

  /** Ends a live session of this kiln: its box killed and removed, its record ended with `reason`. */
  async function end(id: string, reason: SessionEndReason, detail: string | null): Promise<SessionRecord | null> {
    const session = live.get(id);
    if (!session) return null;
    live.delete(id);
    session.box.stop();
    deps.provider.release(session.lease);
    log.info({ session: id, reason, detail }, 'session ended');
    return store.end(session.record.project, id, { reason, detail, at: iso(Date.now()) });
  }

  /** Resumes a session whose box is gone (paused, or its kiln dead) here (./session-resume.ts). */
  async function resume(record: SessionRecord, seen: Seen): Promise<LiveSession> {
    return opening(record.project, async () => {
      const reopened = await reopen(deps, record, seen, (detail) => void end(record.id, 'box_ended', detail));
      if (!reopened) return use(record.project, record.id, false); // taken by another kiln meanwhile, or past its end
      log.info({ session: record.id, project: record.project, from: seen.status === 'running' ? seen.owner : 'paused' }, 'session resumed');
      return hold(reopened.record, reopened.opened);
    });
  }

  /** Whether the kiln `owner` is gone: an earlier start of this one, or (replicas) not heard within the timeout. */
  async function gone(owner: string): Promise<boolean> {
    if (owner === deps.owner) return false;
    if (owner.startsWith(`${instance}/`) || !deps.liveOwners) return true;
    return !(await deps.liveOwners()).includes(owner);
  }

  /**
   * The live session a call goes to: this kiln's, or resumed here when its box is gone; 404 if the
   * project has no such session, 409 once it has ended, SessionElsewhere when a live kiln holds it.
   */
  async function use(project: string, id: string, mayResume = true): Promise<LiveSession> {
    if (keeper.stopping()) throw stopping();
    const session = live.get(id) ?? (await resuming.get(id)?.catch(() => undefined));
    if (session && session.record.project === project) return session;
    const record = await store.get(project, id);
    if (!record) throw notFound(id);
    if (record.status === 'ended') throw ended(record);
    const seen = record.status === 'paused' ? ({ status: 'paused' } as const) : ({ status: 'running', owner: record.owner } as const);
    if (mayResume && (seen.status === 'paused' || (await gone(record.owner)))) {
      const resumed = resume(record, seen);
      resuming.set(id, resumed);
      try {
        return await resumed;
      } finally {
        resuming.delete(id);
      }
    }
    throw new SessionElsewhere(record, record.ownerUrl);
  }

  /** Activity: the idle deadline moves to now + the idle timeout, never past the lifetime's end. */
  function touch(session: LiveSession): SessionRecord {
    const { record } = session;
    const now = Date.now();
    session.dirty = true;
    record.lastActiveAt = iso(now);
    record.expiresAt = iso(Math.min(now + record.idleTimeoutSeconds * 1000, Date.parse(record.endsAt)));
    const at = { lastActiveAt: record.lastActiveAt, expiresAt: record.expiresAt, idleTimeoutSeconds: record.idleTimeoutSeconds };
    void store.touch(record.project, record.id, at).catch((err) => {
      log.warn({ err: String(err), session: record.id }, 'session: could not record its activity');
    });
    return record;
  }

  /** Deletes a session: its box removed if this kiln holds it, its checkpoint dropped; a live other kiln's is forwarded. */
  async function remove(project: string, id: string): Promise<SessionRecord> {
    const session = live.get(id);
    if (session && session.record.project === project) return (await end(id, 'deleted', null)) ?? session.record;
    const record = await store.get(project, id);
    if (!record) throw notFound(id);
    if (record.status === 'ended') throw ended(record);
    if (record.status === 'running' && !(await gone(record.owner))) throw new SessionElsewhere(record, record.ownerUrl);
    const done = await store.end(project, id, { reason: 'deleted', detail: null, at: iso(Date.now()) });
    return done ?? (await remove(project, id)); // it changed meanwhile (resumed, say): again
  }

  const keeper = createSessionKeeper({ ...deps, live, end, gone });

  return {
    create,
    use,
    touch,
    async get(project: string, id: string): Promise<SessionRecord> {
      const session = live.get(id);
      if (session && session.record.project === project) return session.record;
      const record = await store.get(project, id);
      if (!record) throw notFound(id);
      return record;
    },
    list: (project: string, page: Page & { status?: SessionStatus }) => store.list(project, page),
    async keepAlive(project: string, id: string): Promise<SessionRecord> {
      return touch(await use(project, id));
    },
    /** A new idle timeout (E2B's setTimeout), from now: within the setting's maximum and the lifetime. */
    async setIdleTimeout(project: string, id: string, seconds: number): Promise<SessionRecord> {
      const session = await use(project, id);
      session.record.idleTimeoutSeconds = withinIdleMaximum(config, seconds);
      return touch(session);
    },
    pause: requestedPause({ live, store, pause: (session) => keeper.pause(session) }),
    /** The project of a session, for a caller that names only the session (E2B's in-sandbox calls). */
    projectOf: (id: string) => store.projectOf(id),
    remove,
    start: keeper.start,
    stop: keeper.stop,
  };
}

export type Sessions = ReturnType<typeof createSessions>;
