import { keyOfRequest } from '../../access/scopes.js';
import { callerOf } from '../auth.js';
import { createRoute, z } from '@hono/zod-openapi';
import type { SessionCalls } from '../../sessions/session-calls.js';
import type { Sessions } from '../../sessions/sessions.js';
import { SESSION_STATUSES } from '../../model/vocabulary.js';
import type { SessionRecord } from '../../store/sessions/records.js';
import { createRouter } from '../context.js';
import type { RunEvents } from '../../execution/run-events.js';
import { answerRun } from '../sse.js';
import { body, errorResponses, json } from './openapi.js';
import { IdParam, pageQuery } from './pagination.js';
import { HttpBinding } from './binding-schemas.js';
import { Env, InputFile, Language } from './schemas.js';

// kiln's own resource (Riza has none): a box kept across calls, with a stateful interpreter.

const Seconds = (what: string) => z.number().int().min(1).nullish().openapi({ description: what });

const SessionCreate = z
  .object({
    language: Language,
    runtime_revision_id: z.string().max(256).nullish().openapi({ description: 'Run on this custom runtime revision, once built.' }),
    limits: z
      .object({ memory_size: z.number().int().min(16).nullish().openapi({ description: 'Memory limit in MiB (default 128).' }) })
      .nullish(),
    idle_timeout_seconds: Seconds('The session ends after this long without a call or a keep-alive (default 300).'),
    max_lifetime_seconds: Seconds('The session ends this long after it was created, whatever it is doing (default 3600).'),
    env: Env.nullish(),
    http: HttpBinding.nullish().openapi({
      description:
        'Hosts the code may reach, with credentials kiln injects outside the box: literal, or a secret of the project by `secret_id` (as a tool binds them).',
    }),
    files: z.array(InputFile).nullish().openapi({ description: 'Files written to the workspace (/mnt/req) before the first call.' }),
  })
  .openapi('SessionCreate');

const Session = z
  .object({
    id: z.string(),
    status: z.enum(SESSION_STATUSES).openapi({
      description:
        '`running` (a kiln holds its box), `paused` (its kiln stopped: its files are in its checkpoint, and its next call resumes it in a fresh box), `ended`.',
    }),
    language: z.string(),
    runtime_revision_id: z.string().nullable(),
    memory_size: z.number().int(),
    idle_timeout_seconds: z.number().int(),
    max_lifetime_seconds: z.number().int(),
    created_at: z.string(),
    last_active_at: z.string(),
    expires_at: z.string().openapi({ description: 'When it ends unless used (or kept alive) first; never past `ends_at`.' }),
    ends_at: z.string().openapi({ description: 'The end of its lifetime.' }),
    ended_at: z.string().nullable(),
    end_reason: z.string().nullable().openapi({ description: '`deleted`, `idle_timeout`, `max_lifetime`, `box_ended`, `kiln_restarted`.' }),
    end_detail: z.string().nullable(),
    restored: z
      .boolean()
      .openapi({ description: 'Its box was resumed from a checkpoint: files kept, processes and interpreter state not.' }),
    checkpointed_at: z
      .string()
      .nullable()
      .openapi({ description: 'When its workspace was last checkpointed (a resume restores the files as of then); null: not yet.' }),
    env: z.array(z.string()).openapi({ description: 'The names of its environment variables (never their values).' }),
    http: z.object({ allow: z.array(z.object({ host: z.string() })) }),
  })
  .openapi('Session');

const ResultBundle = z.record(z.string(), z.any()).openapi('SessionResult', {
  description:
    'A rich output by MIME type (`text/plain`, `text/html`, `image/png` in base64, `application/json`, …); `is_main_result` marks the value of the final expression.',
});
const CallError = z
  .object({ name: z.string(), value: z.string(), traceback: z.string() })
  .nullable()
  .openapi('SessionCallError', { description: 'What the code raised (or what became of the interpreter).' });
const CallOutput = {
  id: z.string().openapi({ description: 'The execution in the log (GET /v1/executions/{id}).' }),
  session_id: z.string(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean().optional(),
  stderr_truncated: z.boolean().optional(),
  duration: z.number().int(),
  stop_reason: z.string().openapi({
    description:
      '`exited`; `timeout`, `output_limit`, `out_of_memory`, `interpreter_ended` (the interpreter was restarted), `sandbox_error` (the session is over).',
  }),
  restarted: z.boolean().openapi({ description: 'The interpreter had been restarted before this call: earlier state was gone.' }),
  restored: z.boolean().openapi({
    description:
      'The session had been resumed from its checkpoint before this call (its kiln stopped): files as of the checkpoint, interpreters fresh.',
  }),
};

const SessionExecute = z
  .object({
    code: z.string().min(1, 'must not be empty'),
    context_id: z.string().max(256).nullish().openapi({ description: 'A context made by POST …/contexts; `default` when absent.' }),
    timeout: z.number().int().min(1).nullish().openapi({ description: 'Seconds before the call is interrupted (default 30).' }),
    tools: z
      .union([z.array(z.string().min(1).max(128)).max(100), z.literal('all')])
      .nullish()
      .openapi({
        description:
          'Saved tools this call\'s code may call (Python `from kiln_tools import …`, JavaScript and TypeScript `await import("kiln:tools")`): for this call only.',
      }),
  })
  .openapi('SessionExecute');
const SessionExecution = z
  .object({
    ...CallOutput,
    context_id: z.string(),
    results: z.array(ResultBundle),
    error: CallError,
    children: z
      .array(z.object({ id: z.string(), tool_id: z.string(), tool: z.string(), duration_ms: z.number().int(), outcome: z.string() }))
      .optional()
      .openapi({ description: 'The tool calls the code made (`tools`), each an execution of its own.' }),
  })
  .openapi('SessionExecution');

const SessionCommand = z
  .object({
    cmd: z
      .union([z.string().min(1), z.array(z.string()).min(1)])
      .openapi({ description: 'A shell command line (run by /bin/sh -c), or argv.' }),
    stdin: z.string().nullish(),
    env: Env.nullish(),
    cwd: z.string().max(1024).nullish().openapi({ description: 'A directory in the workspace, relative to it.' }),
    timeout: z.number().int().min(1).nullish().openapi({ description: 'Seconds before the command is stopped (default 30).' }),
  })
  .openapi('SessionCommand');
const CommandResult = z.object({ ...CallOutput, exit_code: z.number().int(), error: CallError.optional() }).openapi('SessionCommandResult');

const security = [{ bearer: [] }];
const tags = ['sessions'];
const byId = { params: IdParam('session') };
const routes = {
  create: createRoute({
    method: 'post',
    path: '/v1/sessions',
    summary: 'Start a session: a box kept across calls',
    security,
    tags,
    request: body(SessionCreate),
    responses: { 200: json(Session, 'The running session.'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/sessions',
    summary: 'List sessions, newest first',
    security,
    tags,
    request: {
      query: pageQuery('sess').extend({
        status: z
          .enum(SESSION_STATUSES)
          .optional()
          .openapi({ param: { name: 'status', in: 'query' } }),
      }),
    },
    responses: { 200: json(z.object({ data: z.array(Session) }), 'A page of sessions.'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/sessions/{id}',
    summary: 'Get a session',
    security,
    tags,
    request: byId,
    responses: { 200: json(Session, 'The session.'), ...errorResponses },
  }),
  keepAlive: createRoute({
    method: 'post',
    path: '/v1/sessions/{id}/keepalive',
    summary: 'Extend the idle deadline (never past its lifetime)',
    security,
    tags,
    request: byId,
    responses: { 200: json(Session, 'The session.'), ...errorResponses },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/sessions/{id}',
    summary: 'End a session: its box is removed',
    security,
    tags,
    request: byId,
    responses: { 200: json(Session, 'The ended session.'), ...errorResponses },
  }),
  execute: createRoute({
    method: 'post',
    path: '/v1/sessions/{id}/execute',
    summary: 'Run code in a persistent context of the session',
    security,
    tags,
    request: { ...byId, ...body(SessionExecute) },
    responses: { 200: json(SessionExecution, 'The code ran (its failures are reported here too).'), ...errorResponses },
  }),
  command: createRoute({
    method: 'post',
    path: '/v1/sessions/{id}/commands',
    summary: "Run a fresh process in the session's box",
    security,
    tags,
    request: { ...byId, ...body(SessionCommand) },
    responses: { 200: json(CommandResult, 'The command ran.'), ...errorResponses },
  }),
  context: createRoute({
    method: 'post',
    path: '/v1/sessions/{id}/contexts',
    summary: 'Make a context: state of its own beside the default one',
    security,
    tags,
    request: byId,
    responses: { 200: json(z.object({ id: z.string() }), 'The context.'), ...errorResponses },
  }),
};

/** A session as /v1 shows it: names of env variables and hosts, never a value or a credential. */
export function sessionView(r: SessionRecord) {
  const settings = (r.settings ?? {}) as { env?: string[]; http?: { allow?: { host: string }[] } };
  return {
    id: r.id,
    status: r.status,
    language: r.language,
    runtime_revision_id: r.runtimeRevisionId,
    memory_size: r.memoryMiB,
    idle_timeout_seconds: r.idleTimeoutSeconds,
    max_lifetime_seconds: r.maxLifetimeSeconds,
    created_at: r.createdAt,
    last_active_at: r.lastActiveAt,
    expires_at: r.expiresAt,
    ends_at: r.endsAt,
    ended_at: r.endedAt,
    end_reason: r.endReason,
    end_detail: r.endDetail,
    restored: r.restored,
    checkpointed_at: r.checkpoint.at,
    env: settings.env ?? [],
    http: { allow: settings.http?.allow ?? [] },
  };
}

/** /v1/sessions: sessions of the caller's project, and the calls made in them. */
export function sessionRoutes(deps: { sessions: Sessions; calls: SessionCalls; runEvents: RunEvents }) {
  const { sessions, calls } = deps;
  const app = createRouter();
  app.openapi(routes.create, async (c) => {
    const b = c.req.valid('json');
    const record = await sessions.create(
      c.get('project'),
      {
        language: b.language,
        runtimeRevisionId: b.runtime_revision_id,
        memoryMiB: b.limits?.memory_size,
        idleTimeoutSeconds: b.idle_timeout_seconds,
        maxLifetimeSeconds: b.max_lifetime_seconds,
        env: Object.entries(b.env ?? {}).map(([name, value]) => ({ name, value })),
        allow: b.http?.allow ?? [],
        files: b.files ?? [],
        createdBy: keyOfRequest(c.get('principal')),
      },
      c.get('timer'),
    );
    return c.json(sessionView(record), 200);
  });
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const rows = await sessions.list(c.get('project'), { limit: q.limit, startingAfter: q.starting_after, status: q.status });
    return c.json({ data: rows.map(sessionView) }, 200);
  });
  app.openapi(routes.get, async (c) => c.json(sessionView(await sessions.get(c.get('project'), c.req.valid('param').id)), 200));
  app.openapi(routes.keepAlive, async (c) => c.json(sessionView(await sessions.keepAlive(c.get('project'), c.req.valid('param').id)), 200));
  app.openapi(routes.remove, async (c) => c.json(sessionView(await sessions.remove(c.get('project'), c.req.valid('param').id)), 200));
  app.openapi(routes.execute, async (c) => {
    const b = c.req.valid('json');
    const call = { code: b.code, contextId: b.context_id, timeoutSeconds: b.timeout, ...(b.tools ? { tools: b.tools } : {}) };
    return answerRun(c, deps.runEvents, async (stream) =>
      JSON.stringify(await calls.execute(c.get('project'), c.req.valid('param').id, { ...call, stream }, callerOf(c, 'api'))),
    ) as never;
  });
  app.openapi(routes.command, async (c) => {
    const b = c.req.valid('json');
    const call = { cmd: b.cmd, stdin: b.stdin ?? '', env: b.env ?? {}, cwd: b.cwd ?? undefined, timeoutSeconds: b.timeout };
    return answerRun(c, deps.runEvents, async (stream) =>
      JSON.stringify(await calls.command(c.get('project'), c.req.valid('param').id, { ...call, stream }, callerOf(c, 'api'))),
    ) as never;
  });
  app.openapi(routes.context, async (c) => c.json(await calls.createContext(c.get('project'), c.req.valid('param').id), 200));
  return app;
}
