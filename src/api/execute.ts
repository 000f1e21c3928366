import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import type { Config } from '../config.js';
import { AppError, validationHook } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Language, Runtime } from '../runtimes/registry.js';
import type { Admission } from '../sandbox/admission.js';
import type { Job, RunJob, RunResult } from '../sandbox/runner.js';
import {
  ErrorBody,
  ExecuteFunctionRequest,
  ExecuteFunctionResponse,
  ExecuteScriptRequest,
  ExecuteScriptResponse,
} from './schemas.js';

export interface ExecuteDeps {
  config: Config;
  registry: Record<Language, Runtime>;
  admission: Admission;
  runJob: RunJob;
  metrics: Metrics;
}

const errors = {
  400: { description: 'A field is invalid; the body names it.', content: { 'application/json': { schema: ErrorBody } } },
  401: { description: 'Missing or wrong API key.', content: { 'application/json': { schema: ErrorBody } } },
  413: { description: 'The request body is too large.', content: { 'application/json': { schema: ErrorBody } } },
  429: { description: 'At capacity; retry after Retry-After seconds.', content: { 'application/json': { schema: ErrorBody } } },
  503: { description: 'Docker or a sandbox image is unavailable.', content: { 'application/json': { schema: ErrorBody } } },
};

const functionRoute = createRoute({
  method: 'post',
  path: '/v1/execute-function',
  summary: 'Run code that defines execute(input) and return what it returned',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ExecuteFunctionRequest } } } },
  responses: {
    200: { description: 'The code ran (its failures are reported here too).', content: { 'application/json': { schema: ExecuteFunctionResponse } } },
    ...errors,
  },
});

const scriptRoute = createRoute({
  method: 'post',
  path: '/v1/execute',
  summary: 'Run a script with stdin and args; return its exit code and output',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ExecuteScriptRequest } } } },
  responses: {
    200: { description: 'The script ran (its failures are reported here too).', content: { 'application/json': { schema: ExecuteScriptResponse } } },
    ...errors,
  },
});

type Common = Pick<ExecuteFunctionRequest, 'language' | 'code' | 'env' | 'files' | 'http' | 'limits' | 'runtime_revision_id' | 'allow_http_hosts'>;

/** Turns a validated request into a Job: runtime, limits within the configured maxima, no unsupported features. */
export function resolveJob(req: Common, deps: Pick<ExecuteDeps, 'config' | 'registry'>): Omit<Job, 'mode' | 'args' | 'stdin'> {
  const { config } = deps;
  const timeout = req.limits?.execution_timeout ?? config.KILN_DEFAULT_TIMEOUT_SECONDS;
  const memory = req.limits?.memory_size ?? config.KILN_DEFAULT_MEMORY_MIB;
  if (timeout > config.KILN_MAX_TIMEOUT_SECONDS)
    throw new AppError('BAD_REQUEST', `limits.execution_timeout: must be at most ${config.KILN_MAX_TIMEOUT_SECONDS} seconds`, [
      { field: 'limits.execution_timeout', reason: 'above_maximum', message: `maximum is ${config.KILN_MAX_TIMEOUT_SECONDS}` },
    ]);
  if (memory > config.KILN_MAX_MEMORY_MIB)
    throw new AppError('BAD_REQUEST', `limits.memory_size: must be at most ${config.KILN_MAX_MEMORY_MIB} MiB`, [
      { field: 'limits.memory_size', reason: 'above_maximum', message: `maximum is ${config.KILN_MAX_MEMORY_MIB}` },
    ]);
  if (req.runtime_revision_id)
    throw new AppError('BAD_REQUEST', `runtime_revision_id: custom runtimes are not supported yet (got ${req.runtime_revision_id})`, [
      { field: 'runtime_revision_id', reason: 'unsupported' },
    ]);
  return {
    runtime: deps.registry[req.language],
    code: req.code,
    env: req.env ?? {},
    files: req.files ?? [],
    allow: [...(req.http?.allow ?? []), ...(req.allow_http_hosts ?? []).map((host) => ({ host }))],
    timeoutMs: Math.round(timeout * 1000),
    memoryMiB: memory,
  };
}

function toExecution(r: RunResult) {
  return {
    id: r.id,
    exit_code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
    duration: r.durationMs,
    stop_reason: r.stopReason,
    stdout_truncated: r.stdoutTruncated,
    stderr_truncated: r.stderrTruncated,
  };
}

/** POST /v1/execute-function and POST /v1/execute. */
export function executeRoutes(deps: ExecuteDeps) {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  async function admitAndRun(job: Job, request: Request): Promise<RunResult> {
    const started = performance.now();
    deps.metrics.queueWaiting.set(deps.admission.waiting);
    let result: RunResult;
    try {
      // Without a Content-Length, count the body at the largest size it could have had.
      const bytes = Number(request.headers.get('content-length') ?? deps.config.KILN_MAX_BODY_BYTES);
      result = await deps.admission.submit(() => deps.runJob(job), { bytes, signal: request.signal });
    } catch (error) {
      if (error instanceof AppError) deps.metrics.rejections.inc({ reason: error.details?.[0]?.reason ?? error.code });
      throw error;
    }
    deps.metrics.queueWaiting.set(deps.admission.waiting);
    const outcome = result.stopReason === 'exited' ? (job.mode === 'function' ? result.outputStatus : result.exitCode === 0 ? 'valid' : 'error') : result.stopReason;
    deps.metrics.executions.inc({ language: job.runtime.language, outcome });
    deps.metrics.duration.observe({ language: job.runtime.language }, (performance.now() - started) / 1000);
    return result;
  }

  app.openapi(functionRoute, async (c) => {
    const req = c.req.valid('json');
    const job: Job = { ...resolveJob(req, deps), mode: 'function', input: req.input ?? null, args: [], stdin: '' };
    const r = await admitAndRun(job, c.req.raw);
    // The return value is spliced in as the code produced it: no re-encoding, big integers intact.
    const body = `{"output":${r.outputJson ?? 'null'},"output_status":"${r.outputStatus}","execution":${JSON.stringify(toExecution(r))}}`;
    return c.body(body, 200, { 'content-type': 'application/json' }) as never;
  });

  app.openapi(scriptRoute, async (c) => {
    const body = c.req.valid('json');
    const job: Job = { ...resolveJob(body, deps), mode: 'script', args: body.args ?? [], stdin: body.stdin ?? '' };
    const r = await admitAndRun(job, c.req.raw);
    return c.json(toExecution(r), 200);
  });

  return app;
}
