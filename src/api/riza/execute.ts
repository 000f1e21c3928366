import { keyOfRequest } from '../../access/scopes.js';
import { callerOf } from '../auth.js';
import { createRoute } from '@hono/zod-openapi';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionRequest } from '../../execution/request.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { Context } from 'hono';
import { type AppEnv, createRouter, executionContext } from '../context.js';
import type { RunEvents } from '../../execution/run-events.js';
import { answerRun } from '../sse.js';
import { acceptIfAsync } from './async.js';
import { fieldError } from '../../errors.js';
import type { SessionCalls } from '../../sessions/session-calls.js';
import { acceptedResponse, errorResponses } from './openapi.js';
import { executionBody, functionAnswer } from './render.js';
import { ExecuteFunctionRequest, ExecuteFunctionResponse, ExecuteScriptRequest, ExecuteScriptResponse } from './schemas.js';

const functionRoute = createRoute({
  method: 'post',
  path: '/v1/execute-function',
  summary: 'Run code that defines execute(input) and return what it returned',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ExecuteFunctionRequest } } } },
  responses: {
    200: {
      description: 'The code ran (its failures are reported here too).',
      content: { 'application/json': { schema: ExecuteFunctionResponse } },
    },
    ...acceptedResponse,
    ...errorResponses,
  },
});

const scriptRoute = createRoute({
  method: 'post',
  path: '/v1/execute',
  summary: 'Run a script with stdin and args; return its exit code and output',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ExecuteScriptRequest } } } },
  responses: {
    200: {
      description: 'The script ran (its failures are reported here too).',
      content: { 'application/json': { schema: ExecuteScriptResponse } },
    },
    ...acceptedResponse,
    ...errorResponses,
  },
});

type Common = Pick<
  ExecuteFunctionRequest,
  'callback_url' | 'language' | 'code' | 'env' | 'files' | 'http' | 'limits' | 'runtime_revision_id' | 'allow_http_hosts' | 'tools'
>;

/** The fields both endpoints share, in the core's terms. */
function commonRequest(project: string, req: Common): Omit<ExecutionRequest, 'mode'> {
  return {
    project,
    target: { kind: 'code', language: req.language, code: req.code, runtimeRevisionId: req.runtime_revision_id },
    env: Object.entries(req.env ?? {}).map(([name, value]) => ({ name, value })),
    files: req.files ?? [],
    allow: [...(req.http?.allow ?? []), ...(req.allow_http_hosts ?? []).map((host) => ({ host }))],
    limits: { executionTimeout: req.limits?.execution_timeout, memorySize: req.limits?.memory_size },
    ...(req.tools ? { tools: req.tools } : {}),
  };
}

/** What a call in a session cannot carry: those are the session's (set when it was created). */
function sessionFields(req: Common & { env?: unknown }, c: Context<AppEnv>, script: boolean): void {
  const refused = [
    ['files', req.files?.length],
    ['http', req.http?.allow?.length || req.allow_http_hosts?.length],
    ['runtime_revision_id', req.runtime_revision_id],
    ['limits.memory_size', req.limits?.memory_size],
    ['env', !script && req.env && Object.keys(req.env).length],
    ['callback_url', req.callback_url || /respond-async/i.test(c.req.header('prefer') ?? '')],
    ['tools', script && req.tools],
  ] as const;
  for (const [field, given] of refused)
    if (given)
      throw fieldError(
        field,
        'not_with_session',
        `not with session_id: ${field === 'callback_url' ? 'a call in a session answers synchronously' : "it is the session's, set when it was created"}`,
      );
}

/** A session's script answer in Riza's execution shape. */
function sessionExecution(answer: Record<string, unknown>) {
  const { id, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, duration, stop_reason, session_id } = answer;
  return {
    id,
    exit_code,
    stdout,
    stderr,
    duration,
    // the interpreter's restart is the sandbox's failure in Riza's terms
    stop_reason: stop_reason === 'interpreter_ended' ? 'sandbox_error' : stop_reason,
    stdout_truncated: stdout_truncated ?? false,
    stderr_truncated: stderr_truncated ?? false,
    session_id,
  };
}

/** POST /v1/execute-function and POST /v1/execute: Riza's wire ↔ the execution core. */
export function executeRoutes(deps: {
  execute: Execute;
  invocations: Invocations;
  sessionCalls: SessionCalls;
  runEvents: RunEvents;
  maxBodyBytes: number;
}) {
  const app = createRouter();
  const ctx = (c: Context<AppEnv>) => executionContext(c, deps.maxBodyBytes);

  app.openapi(functionRoute, async (c) => {
    const req = c.req.valid('json');
    if (req.session_id) {
      sessionFields(req, c, false);
      const called = await deps.sessionCalls.callFunction(
        c.get('project'),
        req.session_id,
        {
          language: req.language,
          code: req.code,
          input: req.input ?? null,
          timeoutSeconds: req.limits?.execution_timeout && Math.ceil(req.limits.execution_timeout),
          ...(req.tools ? { tools: req.tools } : {}),
        },
        callerOf(c, 'api'),
      );
      const { results: _results, error: _error, context_id: _context, restarted: _restarted, ...fields } = called.answer;
      const execution = sessionExecution({ ...fields, exit_code: called.answer.error ? 1 : 0 });
      return c.body(
        `{"output":${called.outputJson ?? 'null'},"output_status":"${called.outputStatus}","execution":${JSON.stringify(execution)}}`,
        200,
        {
          'content-type': 'application/json',
        },
      ) as never;
    }
    const request: ExecutionRequest = {
      ...commonRequest(c.get('project'), req),
      key: keyOfRequest(c.get('principal')),
      mode: 'function',
      input: req.input ?? null,
    };
    const accepted = await acceptIfAsync(c, deps.invocations, request, { bytes: ctx(c).bytes, callbackUrl: req.callback_url });
    if (accepted) return accepted as never;
    return answerRun(c, deps.runEvents, async (stream) => functionAnswer(await deps.execute(request, { ...ctx(c), stream }))) as never;
  });

  app.openapi(scriptRoute, async (c) => {
    const req = c.req.valid('json');
    if (req.session_id) {
      sessionFields(req, c, true);
      const answer = await deps.sessionCalls.callScript(
        c.get('project'),
        req.session_id,
        {
          language: req.language,
          code: req.code,
          args: req.args ?? [],
          stdin: req.stdin ?? '',
          env: req.env ?? {},
          timeoutSeconds: req.limits?.execution_timeout && Math.ceil(req.limits.execution_timeout),
        },
        callerOf(c, 'api'),
      );
      return c.json(sessionExecution(answer) as never, 200);
    }
    const request: ExecutionRequest = {
      ...commonRequest(c.get('project'), req),
      key: keyOfRequest(c.get('principal')),
      mode: 'script',
      args: req.args ?? [],
      stdin: req.stdin ?? '',
    };
    const accepted = await acceptIfAsync(c, deps.invocations, request, { bytes: ctx(c).bytes, callbackUrl: req.callback_url });
    if (accepted) return accepted as never;
    return answerRun(c, deps.runEvents, async (stream) => {
      const e = await deps.execute(request, { ...ctx(c), stream });
      return JSON.stringify(executionBody(e.id, e.result, e.children));
    }) as never;
  });

  return app;
}
