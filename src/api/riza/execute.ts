import { createRoute } from '@hono/zod-openapi';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionRequest } from '../../execution/request.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { Context } from 'hono';
import { type AppEnv, createRouter, executionContext } from '../context.js';
import { acceptIfAsync } from './async.js';
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
  'callback_url' | 'language' | 'code' | 'env' | 'files' | 'http' | 'limits' | 'runtime_revision_id' | 'allow_http_hosts'
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
  };
}

/** POST /v1/execute-function and POST /v1/execute: Riza's wire ↔ the execution core. */
export function executeRoutes(deps: { execute: Execute; invocations: Invocations; maxBodyBytes: number }) {
  const app = createRouter();
  const ctx = (c: Context<AppEnv>) => executionContext(c, deps.maxBodyBytes);

  app.openapi(functionRoute, async (c) => {
    const req = c.req.valid('json');
    const request: ExecutionRequest = { ...commonRequest(c.get('project'), req), mode: 'function', input: req.input ?? null };
    const accepted = await acceptIfAsync(c, deps.invocations, request, { bytes: ctx(c).bytes, callbackUrl: req.callback_url });
    if (accepted) return accepted as never;
    const e = await deps.execute(request, ctx(c));
    return c.body(functionAnswer(e), 200, { 'content-type': 'application/json' }) as never;
  });

  app.openapi(scriptRoute, async (c) => {
    const req = c.req.valid('json');
    const request: ExecutionRequest = {
      ...commonRequest(c.get('project'), req),
      mode: 'script',
      args: req.args ?? [],
      stdin: req.stdin ?? '',
    };
    const accepted = await acceptIfAsync(c, deps.invocations, request, { bytes: ctx(c).bytes, callbackUrl: req.callback_url });
    if (accepted) return accepted as never;
    const e = await deps.execute(request, ctx(c));
    return c.json(executionBody(e.id, e.result), 200);
  });

  return app;
}
