/**
 * What opening a session's box takes, for a new session and for one resumed from its checkpoint
 * alike: its request resolved on the one path (runtime, memory bound, secrets), a box from the
 * pool put in session mode under the session's egress rules, and the bounds and deadlines of
 * config. The lifecycle that uses these is ./sessions.ts.
 */
import { createToolRouter } from '../execution/tool-gateway.js';
import type { Config } from '../config.js';
import type { EgressProxy } from '../egress/proxy.js';
import { AppError, fieldError } from '../errors.js';
import type { Resolve } from '../execution/resolve.js';
import type { ExecutionRequest } from '../execution/request.js';
import type { Language } from '../runtimes/registry.js';
import type { Job } from '../sandbox/job.js';
import type { Lease, SandboxProvider } from '../sandbox/provider.js';
import type { SessionRecord } from '../store/sessions/records.js';
import type { StageTimer } from '../timings.js';
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
  /** Labels shown back and filtered on (E2B's metadata, its template's name): never secrets. */
  labels?: Record<string, string>;
  /** The key that made it: the log names it for calls made with the session's own tokens (E2B's envd). */
  createdBy?: { id: string | null; name: string } | null;
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
  /** Activity since its last checkpoint (files may have changed). */
  dirty: boolean;
  /** Its box came from a checkpoint, and no call has said so yet. */
  restoredUnsaid: boolean;
  /** Its calls' tools (`tools` on a call): each call's gateway, while the call runs. */
  tools: ToolRouter;
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** A session's router of its calls' tools (src/execution/tool-gateway.ts). */
export type ToolRouter = ReturnType<typeof createToolRouter>;

/** The key that made a session (its id and name), as its record keeps it; null when none was said. */
export function creatorOf(record: SessionRecord): { id: string | null; name: string } | null {
  const by = (record.settings as { created_by?: { id: string | null; name: string } } | null)?.created_by;
  return by && typeof by.name === 'string' ? { id: by.id ?? null, name: by.name } : null;
}

/** A new running session's record: its deadlines from now, and what it shows back (names, hosts; no values). */
export function newRecord(s: {
  id: string;
  project: string;
  owner: string;
  ownerUrl: string | null;
  language: string;
  runtimeRevisionId: string | null;
  idle: number;
  lifetime: number;
  job: { memoryMiB: number; env: Record<string, string>; allow: { host: string }[] };
  labels?: Record<string, string>;
  createdBy?: { id: string | null; name: string } | null;
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
    settings: {
      env: Object.keys(s.job.env),
      http: { allow: s.job.allow.map((r) => ({ host: r.host })) },
      ...(s.labels ? { labels: s.labels } : {}),
      ...(s.createdBy ? { created_by: { id: s.createdBy.id, name: s.createdBy.name } } : {}),
    },
    ownerUrl: s.ownerUrl,
    restored: false,
    checkpoint: { generation: 0, chunks: 0, bytes: 0, at: null },
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

/**
 * Opening sessions under the bounds: each counts against them while it is being opened (a create
 * or a resume), before it is live. Answers the function that wraps an opening.
 */
export function boundedOpening(config: Config, live: Map<string, LiveSession>) {
  /** Sessions being opened, by project. */
  const starting = new Map<string, number>();
  return async function opening<T>(project: string, open: () => Promise<T>): Promise<T> {
    admit(config, live, starting, project);
    starting.set(project, (starting.get(project) ?? 0) + 1);
    try {
      return await open();
    } finally {
      const n = (starting.get(project) ?? 1) - 1;
      if (n) starting.set(project, n);
      else starting.delete(project);
    }
  };
}

/** The idle timeout and lifetime a create asks for, within the settings. */
export function deadlines(config: Config, req: SessionCreate): { idle: number; lifetime: number } {
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
    tools: ToolRouter;
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
        egress: {
          proxy: s.egress,
          session: { executionId: s.id, rules: s.job.allow, tools: s.tools },
          maxConnections: config.KILN_EGRESS_MAX_CONNECTIONS,
        },
        onEnd,
      },
    );
  } catch (error) {
    s.provider.release(s.lease);
    throw error;
  }
}

export interface OpenDeps {
  config: Config;
  resolve: Resolve;
  provider: Pick<SandboxProvider, 'acquire' | 'release' | 'refill'>;
  egress: Pick<EgressProxy, 'serve' | 'end'>;
}

/**
 * A box for session `id` of `project`, opened as `req` asks (`withFiles`: its first files written,
 * which a resume from a checkpoint leaves to the checkpoint), and what its record is made from.
 */
export async function openLive(
  deps: OpenDeps,
  s: { project: string; id: string; req: SessionCreate; lifetime: number; withFiles: boolean; timer?: StageTimer },
  onEnd: (detail: string) => void,
) {
  const { req } = s;
  // the one path's checks: runtime (a custom one's build), memory bound, secrets in env and http
  const { job, secretValues } = await deps.resolve({
    project: s.project,
    mode: 'script',
    target: { kind: 'code', language: req.language, code: '', runtimeRevisionId: req.runtimeRevisionId },
    env: req.env,
    allow: req.allow,
    files: s.withFiles ? req.files : [],
    limits: { memorySize: req.memoryMiB },
  });
  s.timer?.mark('resolve');
  const lease = await deps.provider.acquire(job.runtime, job.memoryMiB, s.id);
  if (lease.pooled) setImmediate(() => deps.provider.refill());
  s.timer?.mark('acquire');
  const tools = createToolRouter();
  const box = await openBox({ ...deps, lease, language: req.language, job, lifetime: s.lifetime, id: s.id, tools }, onEnd);
  s.timer?.mark('box');
  return { job, secretValues, lease, box, tools };
}

/** The 409 for a call to a session that has ended, naming why. */
export const ended = (r: SessionRecord) =>
  new AppError('CONFLICT', `session ${r.id} has ended (${r.endReason}${r.endDetail ? `: ${r.endDetail}` : ''})`, [
    { field: 'id', reason: 'session_ended' },
  ]);
