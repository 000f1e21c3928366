import { type KeyOfRequest, keyOfRequest, type Principal, requireCode } from '../../access/scopes.js';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { ResolveError } from '../../at/resolve.js';
import type { AtRunner } from '../../at/run.js';
import { AppError, type ErrorCode } from '../../errors.js';
import { toErrorResponse } from '../error-response.js';
import { checkInputDepth } from '../../tools/input-depth.js';
import type { ConcurrencyCap } from '../../execution/concurrency-cap.js';
import { bearerKey } from '../auth.js';
import { executionContext, readJson, type AppEnv } from '../context.js';

/** XRPC's error name for each of kiln's errors. */
const XRPC_ERRORS = {
  BAD_REQUEST: 'InvalidRequest',
  UNAUTHENTICATED: 'AuthenticationRequired',
  FORBIDDEN: 'AuthenticationRequired',
  NOT_FOUND: 'InternalServerError',
  CONFLICT: 'InternalServerError',
  PAYLOAD_TOO_LARGE: 'PayloadTooLarge',
  BUSY: 'RateLimitExceeded',
  SANDBOX_UNAVAILABLE: 'UpstreamFailure',
  STORE_UNAVAILABLE: 'UpstreamFailure',
  INTERNAL: 'InternalServerError',
} as const satisfies Record<ErrorCode, string>;

/** An error as XRPC answers one: `{error, message}` with kiln's status (and its headers). */
export const xrpcError = (err: unknown, c: Context<AppEnv>, log: Logger): Response =>
  toErrorResponse(err, c, log, (error) => ({ error: XRPC_ERRORS[error.code], message: error.message }));

const invalid = (message: string) => new AppError('BAD_REQUEST', message);

/**
 * POST /xrpc/at.functions.run (AT Protocol): `{function: at-uri, input}` → `{ok, output?, error?,
 * durationMs, functionCid}`. A key is needed unless anonymous calls are served (KILN_XRPC_PUBLIC:
 * the reference has no auth); those run in a project of their own, no key's, and hold at most
 * their share of kiln's boxes at once (429 past it).
 */
export function atRoutes(deps: {
  run: AtRunner;
  authenticate: (key: string | undefined) => Promise<Principal | null>;
  anonymous: { project: string; cap: ConcurrencyCap } | null;
  maxBodyBytes: number;
}) {
  const app = new Hono<AppEnv>();
  app.post('/xrpc/at.functions.run', async (c) => {
    const key = bearerKey(c.req.header('authorization'));
    const principal = await deps.authenticate(key);
    if (principal === null && (key || !deps.anonymous)) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    if (principal === null) return deps.anonymous!.cap.run('anonymous', () => runFor(c, deps.anonymous!.project, null));
    // a function published by anyone is code the key did not write: a key limited to its tools may not
    requireCode(principal);
    return runFor(c, principal.project, keyOfRequest(principal));
  });
  async function runFor(c: Context<AppEnv>, project: string, key: KeyOfRequest | null): Promise<Response> {
    const body = await readJson(c);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('the body must be an object {function, input}');
    const { function: uri, input } = body as { function?: unknown; input?: unknown };
    if (typeof uri !== 'string') throw invalid('function: required, an at:// URI of an at.functions.metadata record');
    if (!Object.hasOwn(body, 'input')) throw invalid('input: required (any JSON)');
    checkInputDepth(input, 'input');
    try {
      return c.json(await deps.run(project, uri, input, { ...executionContext(c, deps.maxBodyBytes), key }));
    } catch (err) {
      if (err instanceof ResolveError && err.invalidRequest) throw invalid(err.message);
      throw err;
    }
  }
  return app;
}
