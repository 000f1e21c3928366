/**
 * Sessions: a box an agent keeps across calls (issue 23). This file is their lifecycle: create
 * (a warm box from the pool when one fits, put in session mode), read, keep alive, end (deleted,
 * idle, past its lifetime, its box gone, kiln restarted), and the bounds on how many run. The calls
 * made in a session are in ./session-calls.ts; kiln's side of the box in ./session-box.ts.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { EgressProxy } from '../egress/proxy.js';
import { AppError, fieldError } from '../errors.js';
import type { Resolve } from '../execution/resolve.js';
import type { ExecutionRequest } from '../execution/request.js';
import { newId } from '../ids.js';
import type { Language } from '../runtimes/registry.js';
import type { Job } from '../sandbox/job.js';
import type { Lease, SandboxProvider } from '../sandbox/provider.js';
import type { Page } from '../store/page.js';
import type { SessionEndReason, SessionRecord, SessionStatus, SessionStore } from '../store/sessions/records.js';
import { type SessionBox, startSessionBox } from './session-box.js';

/** What a session is created with (kiln's wire, in the core's terms). */
export interface SessionCreate {
  language: Language;
  runtimeRevisionId?: string | null;
  memoryMiB?: number | null;
  idleTimeoutSeconds?: number | null;
  maxLifetimeSeconds?: number | null;
  env?: ExecutionRequest['env'];
  allow?: ExecutionRequest['allow'];
  files?: ExecutionRequest['files'];
}

/** A session whose box this kiln holds. */
export interface LiveSession {
  record: SessionRecord;
  box: SessionBox;
  lease: Lease;
  /** Clear values of the secrets bound to it: taken out of every answer and log row. */
  secretValues: string[];
  /** Calls in flight: a session is never idle while one runs. */
  busy: number;
  /** Contexts besides `default`. */
  contexts: Set<string>;
}

const SWEEP_MS = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A new running session's record: its deadlines from now, and what it shows back (names, hosts; no values). */
function newRecord(s: {
  id: string;
  project: string;
  owner: string;
  language: string;
  runtimeRevisionId: string | null;
  idle: number;
  lifetime: number;
  job: { memoryMiB: number; env: Record<string, string>; allow: { host: string }[] };
}): SessionRecord {
  const now = Date.now();
  return {
    id: s.id,
    project: s.project,
    language: s.language,
    runtimeRevisionId: s.runtimeRevisionId,
    memoryMiB: s.job.memoryMiB,
    idleTimeoutSeconds: s.idle,
    maxLifetimeSeconds: s.lifetime,
    status: 'running',
    endReason: null,
    endDetail: null,
    owner: s.owner,
    createdAt: iso(now),
    lastActiveAt: iso(now),
    expiresAt: iso(now + Math.min(s.idle, s.lifetime) * 1000),
    endsAt: iso(now + s.lifetime * 1000),
    endedAt: null,
    settings: { env: Object.keys(s.job.env), http: { allow: s.job.allow.map((r) => ({ host: r.host })) } },
  };
}

/** Bounds on a value in seconds: the setting's default when not given, a 400 past its maximum. */
function seconds(given: number | null | undefined, field: string, fallback: number, max: number): number {
  const value = given ?? fallback;
  if (value > max) throw fieldError(field, 'above_maximum', `must be at most ${max} seconds`);
  return value;
}

/** The bounds on running sessions (this kiln's): a 429 with Retry-After past either, never a queue. */
function admit(config: Config, live: Map<string, LiveSession>, starting: Map<string, number>, project: string): void {
  const all = live.size + [...starting.values()].reduce((a, b) => a + b, 0);
  const mine = [...live.values()].filter((s) => s.record.project === project).length + (starting.get(project) ?? 0);
  const bound =
    all >= config.KILN_SESSIONS_MAX
      ? `${config.KILN_SESSIONS_MAX} sessions are running on this kiln (KILN_SESSIONS_MAX)`
      : mine >= config.KILN_SESSIONS_PER_PROJECT
        ? `this project has ${config.KILN_SESSIONS_PER_PROJECT} sessions running (KILN_SESSIONS_PER_PROJECT); end one first`
        : null;
  if (bound) throw new AppError('BUSY', `no more sessions: ${bound}`, [{ reason: 'sessions_full' }], 30);
}

/** The idle timeout and lifetime a create asks for, within the settings. */
function deadlines(config: Config, req: SessionCreate): { idle: number; lifetime: number } {
  return {
    idle: seconds(
      req.idleTimeoutSeconds,
      'idle_timeout_seconds',
      config.KILN_SESSION_IDLE_TIMEOUT_SECONDS,
      config.KILN_SESSION_MAX_IDLE_TIMEOUT_SECONDS,
    ),
    lifetime: seconds(
      req.maxLifetimeSeconds,
      'max_lifetime_seconds',
      config.KILN_SESSION_LIFETIME_SECONDS,
      config.KILN_SESSION_MAX_LIFETIME_SECONDS,
    ),
  };
}

/** The session's box put in session mode, its egress under the session's rules; the lease given back if it fails. */
async function openBox(
  s: {
    config: Config;
    provider: Pick<SandboxProvider, 'release'>;
    egress: Pick<EgressProxy, 'serve' | 'end'>;
    lease: Lease;
    language: string;
    job: Job;
    lifetime: number;
    id: string;
  },
  onEnd: (detail: string) => void,
): Promise<SessionBox> {
  const { config } = s;
  try {
    return await startSessionBox(
      s.lease.sandbox,
      { language: s.language, env: s.job.env, files: s.job.files, lifetimeMs: s.lifetime * 1000 },
      {
        limits: { streamBytes: config.KILN_OUTPUT_LIMIT_BYTES, resultBytes: config.KILN_RESULT_LIMIT_BYTES },
        egress: { proxy: s.egress, session: { executionId: s.id, rules: s.job.allow }, maxConnections: config.KILN_EGRESS_MAX_CONNECTIONS },
        onEnd,
      },
    );
  } catch (error) {
    s.provider.release(s.lease);
    throw error;
  }
}

export function createSessions(deps: {
  config: Config;
  store: SessionStore;
  resolve: Resolve;
  provider: Pick<SandboxProvider, 'acquire' | 'release' | 'refill'>;
  egress: Pick<EgressProxy, 'serve' | 'end'>;
  log: Logger;
  /** This kiln: `<instance>/<boot>`. */
  owner: string;
}) {
  const { config, store, log } = deps;
  const live = new Map<string, LiveSession>();
  /** Sessions being created, by project: they count against the bounds before they exist. */
  const starting = new Map<string, number>();
  let sweeper: NodeJS.Timeout | undefined;

  async function create(project: string, req: SessionCreate): Promise<SessionRecord> {
    const { idle, lifetime } = deadlines(config, req);
    admit(config, live, starting, project);
    starting.set(project, (starting.get(project) ?? 0) + 1);
    try {
      // the one path's checks: runtime (a custom one's build), memory bound, secrets in env and http
      const { job, secretValues } = await deps.resolve({
        project,
        mode: 'script',
        target: { kind: 'code', language: req.language, code: '', runtimeRevisionId: req.runtimeRevisionId },
        env: req.env,
        allow: req.allow,
        files: req.files,
        limits: { memorySize: req.memoryMiB },
      });
      const id = newId('sess');
      const lease = await deps.provider.acquire(job.runtime, job.memoryMiB, id);
      if (lease.pooled) setImmediate(() => deps.provider.refill());
      const box = await openBox(
        { ...deps, lease, language: req.language, job, lifetime, id },
        (detail) => void end(id, 'box_ended', detail),
      );
      const record = newRecord({
        id,
        project,
        owner: deps.owner,
        language: req.language,
        runtimeRevisionId: req.runtimeRevisionId ?? null,
        idle,
        lifetime,
        job,
      });
      live.set(id, { record, box, lease, secretValues, busy: 0, contexts: new Set() });
      try {
        await store.create(record);
      } catch (error) {
        await end(id, 'deleted', 'the store refused the session');
        throw error;
      }
      log.info({ session: id, project, language: req.language, pooled: lease.pooled }, 'session started');
      return record;
    } finally {
      const n = (starting.get(project) ?? 1) - 1;
      if (n) starting.set(project, n);
      else starting.delete(project);
    }
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

  const notFound = (id: string) => new AppError('NOT_FOUND', `session ${id} not found`, [{ field: 'id', reason: 'not_found' }]);

  async function get(project: string, id: string): Promise<SessionRecord> {
    const record = await store.get(project, id);
    if (!record) throw notFound(id);
    return live.get(id)?.record ?? record;
  }

  /** The live session a call goes to: 404 if the project has no such session, 409 once it has ended. */
  async function use(project: string, id: string): Promise<LiveSession> {
    const session = live.get(id);
    if (session && session.record.project === project) return session;
    const record = await store.get(project, id);
    if (!record) throw notFound(id);
    if (record.status === 'ended')
      throw new AppError('CONFLICT', `session ${id} has ended (${record.endReason}${record.endDetail ? `: ${record.endDetail}` : ''})`, [
        { field: 'id', reason: 'session_ended' },
      ]);
    // running, but its box is not this kiln's: another replica holds it
    throw new AppError('SANDBOX_UNAVAILABLE', `session ${id} is held by another kiln (${record.owner}); send its calls there`, [
      { field: 'id', reason: 'session_elsewhere' },
    ]);
  }

  /** Activity: the idle deadline moves to now + the idle timeout, never past the lifetime's end. */
  function touch(session: LiveSession): SessionRecord {
    const { record } = session;
    const now = Date.now();
    record.lastActiveAt = iso(now);
    record.expiresAt = iso(Math.min(now + record.idleTimeoutSeconds * 1000, Date.parse(record.endsAt)));
    void store.touch(record.project, record.id, { lastActiveAt: record.lastActiveAt, expiresAt: record.expiresAt }).catch((err) => {
      log.warn({ err: String(err), session: record.id }, 'session: could not record its activity');
    });
    return record;
  }

  function sweep(): void {
    const now = Date.now();
    for (const session of live.values()) {
      const { record } = session;
      if (now >= Date.parse(record.endsAt)) void end(record.id, 'max_lifetime', null);
      else if (session.busy === 0 && now >= Date.parse(record.expiresAt)) void end(record.id, 'idle_timeout', null);
    }
  }

  return {
    create,
    get,
    use,
    touch,
    list: (project: string, page: Page & { status?: SessionStatus }) => store.list(project, page),
    async keepAlive(project: string, id: string): Promise<SessionRecord> {
      return touch(await use(project, id));
    },
    async remove(project: string, id: string): Promise<SessionRecord> {
      const session = await use(project, id);
      return (await end(session.record.id, 'deleted', null)) ?? (await get(project, id));
    },
    /** Ends the sessions an earlier start of this kiln left running (their boxes died with it), and starts the sweeps. */
    async start(): Promise<void> {
      const instance = deps.owner.slice(0, deps.owner.lastIndexOf('/'));
      for (const record of await store.runningOfEarlierStarts(instance, deps.owner))
        await store.end(record.project, record.id, { reason: 'kiln_restarted', detail: 'its kiln restarted', at: iso(Date.now()) });
      sweeper = setInterval(sweep, SWEEP_MS).unref();
    },
    /** SIGTERM: every live session ends (its box goes with this kiln). */
    async stop(): Promise<void> {
      clearInterval(sweeper);
      await Promise.all([...live.keys()].map((id) => end(id, 'kiln_restarted', 'its kiln stopped')));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
