import type { Context } from 'hono';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { ResolveError } from '../../at/resolve.js';
import type { AtRunner } from '../../at/run.js';
import { AppError, toErrorResponse } from '../../errors.js';
import { bearerKey } from '../auth.js';
import { executionContext, readJson, type AppEnv } from '../context.js';

/** XRPC's error names for kiln's statuses. */
const XRPC_ERRORS: Record<number, string> = { 400: 'InvalidRequest', 401: 'AuthenticationRequired', 413: 'PayloadTooLarge', 429: 'RateLimitExceeded', 503: 'UpstreamFailure' };

/** An error as XRPC answers one: `{error, message}` with kiln's status (and its headers). */
export const xrpcError = (err: unknown, c: Context<AppEnv>, log: Logger): Response =>
  toErrorResponse(err, c, log, (status, message) => ({ error: XRPC_ERRORS[status] ?? 'InternalServerError', message }));

const invalid = (message: string) => new AppError('BAD_REQUEST', message);

/**
 * POST /xrpc/at.functions.run (AT Protocol): `{function: at-uri, input}` → `{ok, output?, error?,
 * durationMs, functionCid}`. A key is needed unless KILN_XRPC_PUBLIC (the reference has no
 * auth); public calls run in the `default` project, under the same admission limits.
 */
export function atRoutes(deps: { run: AtRunner; projectOf: (key: string | undefined) => string | null; isPublic: boolean; maxBodyBytes: number }) {
  const app = new Hono<AppEnv>();
  app.post('/xrpc/at.functions.run', async (c) => {
    const key = bearerKey(c.req.header('authorization'));
    const project = deps.projectOf(key) ?? (deps.isPublic && !key ? 'default' : null);
    if (project === null) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    const body = await readJson(c);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('the body must be an object {function, input}');
    const { function: uri, input } = body as { function?: unknown; input?: unknown };
    if (typeof uri !== 'string') throw invalid('function: required, an at:// URI of an at.functions.metadata record');
    if (!Object.hasOwn(body, 'input')) throw invalid('input: required (any JSON)');
    try {
      return c.json(await deps.run(project, uri, input, executionContext(c.req.raw, deps.maxBodyBytes)));
    } catch (err) {
      if (err instanceof ResolveError && err.invalidRequest) throw invalid(err.message);
      throw err;
    }
  });
  return app;
}
