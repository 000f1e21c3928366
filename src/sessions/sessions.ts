/**
 * Sessions: a box an agent keeps across calls (issue 23). This file is their lifecycle: create
 * (a warm box from the pool when one fits, put in session mode), read, keep alive, end (deleted,
 * idle, past its lifetime, its box gone), pause (its kiln stops: the workspace checkpointed, the
 * box removed) and resume (its next call, on any kiln of the store: a fresh box, the checkpoint
 * put back), and the bounds on how many run. The calls made in a session are in ./session-calls.ts;
 * kiln's side of the box in ./session-box.ts; its checkpoints in ./session-checkpoints.ts.
 */
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { Page } from '../store/page.js';
import type { StageTimer } from '../timings.js';
import type { SessionEndReason, SessionRecord, SessionStatus, SessionStore } from '../store/sessions/records.js';
import type { Checkpoints } from './session-checkpoints.js';
import { createSessionKeeper } from './session-keeper.js';
import { admit, deadlines, iso, type LiveSession, newRecord, type OpenDeps, openLive, type SessionCreate } from './session-open.js';
import { openSpec, sealSpec } from './session-spec.js';

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

const ended = (r: SessionRecord) =>
  new AppError('CONFLICT', `session ${r.id} has ended (${r.endReason}${r.endDetail ? `: ${r.endDetail}` : ''})`, [
    { field: 'id', reason: 'session_ended' },
  ]);

/**
 * What a resume that failed leaves: the session paused again for a later call (the error as it
 * was, or a 503 to retry) — unless its spec no longer opens (a secret it names was deleted, say),
 * which no retry mends: then it ends, saying why.
 */
async function unresumable(
  deps: { store: SessionStore; owner: string; log: Logger },
  record: SessionRecord,
  error: unknown,
): Promise<AppError> {
  const { project, id } = record;
  if (error instanceof AppError && error.code === 'BAD_REQUEST') {
    const detail = `it could not be resumed: ${error.message}`;
    return ended((await deps.store.end(project, id, { reason: 'kiln_restarted', detail, at: iso(Date.now()) })) ?? record);
  }
  await deps.store.pause(project, id, deps.owner);
  deps.log.warn({ err: String(error), session: id }, 'session: could not resume it; it stays paused');
  return error instanceof AppError
    ? error
    : new AppError('SANDBOX_UNAVAILABLE', `session ${id} could not be resumed now; retry`, [{ reason: 'session_resume_failed' }], 5);
}

export function createSessions(
  deps: OpenDeps & {
    store: SessionStore;
    checkpoints: Checkpoints;
    secretBox: SecretBox;
    log: Logger;
    /** This kiln: `<instance>/<boot>`. */
    owner: string;
    /** Where other replicas reach this kiln (KILN_REPLICA_URL). */
    ownerUrl: string | null;
    /** The kilns of the store alive now (replicas); unset, this kiln is the store's only one. */
    liveOwners?: () => Promise<string[]>;
  },
) {
  const { config, store, log } = deps;
  const live = new Map<string, LiveSession>();
  /** Sessions being created or resumed, by project: they count against the bounds before they exist. */
  const starting = new Map<string, number>();
  /** Resumes under way: a second call for the same session waits for the first's. */
  const resuming = new Map<string, Promise<LiveSession>>();
  const instance = deps.owner.slice(0, deps.owner.lastIndexOf('/'));

  /** Counts a session being opened against the bounds for as long as `open` takes. */
  async function opening<T>(project: string, open: () => Promise<T>): Promise<T> {
    admit(config, live, starting, project);
    starting.set(project, (starting.get(project) ?? 0) + 1);
    try {
      return await open();
    } finally {
      const n = (starting.get(project) ?? 1) - 1;
      if (n) starting.set(project, n);
      else starting.delete(project);
    }
  }

  const hold = (record: SessionRecord, opened: Awaited<ReturnType<typeof openLive>>): LiveSession => {
    const session: LiveSession = {
      record,
      box: opened.box,
      lease: opened.lease,
      secretValues: opened.secretValues,
      busy: 0,
      contexts: new Set(),
      dirty: false,
      restoredUnsaid: record.restored,
    };
    live.set(record.id, session);
    return session;
  };

  async function create(project: string, req: SessionCreate, timer?: StageTimer): Promise<SessionRecord> {
    const { idle, lifetime } = deadlines(config, req);
    return opening(project, async () => {
      const id = newId('sess');
      const onEnd = (detail: string) => void end(id, 'box_ended', detail);
      const opened = await openLive(deps, { project, id, req, lifetime, withFiles: true, timer }, onEnd);
      const record = newRecord({
        ...{ id, project, owner: deps.owner, ownerUrl: deps.ownerUrl, idle, lifetime, job: opened.job },
        ...{ language: req.language, runtimeRevisionId: req.runtimeRevisionId ?? null },
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

  /**
   * Resumes a session whose box is gone (paused, or its kiln dead) here: claimed in the store (so
   * one kiln does it), a fresh box opened from its sealed spec, its checkpoint put back.
   */
  async function resume(record: SessionRecord, seen: { status: 'paused' } | { status: 'running'; owner: string }): Promise<LiveSession> {
    const { project, id } = record;
    return opening(project, async () => {
      const now = Date.now();
      const endsAt = Date.parse(record.endsAt);
      const sealed = await store.spec(project, id);
      const expiresAt = iso(Math.min(now + record.idleTimeoutSeconds * 1000, endsAt));
      const claimed =
        sealed && endsAt > now
          ? await store.claim(project, id, seen, { owner: deps.owner, ownerUrl: deps.ownerUrl, lastActiveAt: iso(now), expiresAt })
          : null;
      if (!claimed) return use(project, id, false); // taken by another kiln meanwhile, or past its end
      let opened: Awaited<ReturnType<typeof openLive>> | null = null;
      try {
        const req = openSpec(deps.secretBox, project, id, sealed!);
        const lifetime = Math.ceil((endsAt - now) / 1000);
        const withFiles = claimed.checkpoint.generation === 0;
        opened = await openLive(deps, { project, id, req, lifetime, withFiles }, (detail) => void end(id, 'box_ended', detail));
        await deps.checkpoints.restore(claimed, opened.lease.sandbox);
      } catch (error) {
        if (opened) {
          opened.box.stop();
          deps.provider.release(opened.lease);
        }
        throw await unresumable(deps, claimed, error);
      }
      log.info({ session: id, project, from: seen.status === 'running' ? seen.owner : 'paused' }, 'session resumed');
      return hold(claimed, opened);
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
    void store.touch(record.project, record.id, { lastActiveAt: record.lastActiveAt, expiresAt: record.expiresAt }).catch((err) => {
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
    remove,
    start: keeper.start,
    stop: keeper.stop,
  };
}

export type Sessions = ReturnType<typeof createSessions>;
