import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { AppError, storeUnavailable, type ErrorCode } from '../errors.js';
import type { AppEnv } from './env.js';

export type { ErrorCode };

/** HTTP status and google.rpc code (as Riza answers) of each error. */
const TABLE = {
  BAD_REQUEST: { status: 400, grpc: 3 },
  UNAUTHENTICATED: { status: 401, grpc: 16 },
  FORBIDDEN: { status: 403, grpc: 7 },
  NOT_FOUND: { status: 404, grpc: 5 },
  CONFLICT: { status: 409, grpc: 6 },
  PAYLOAD_TOO_LARGE: { status: 413, grpc: 3 },
  BUSY: { status: 429, grpc: 8 },
  SANDBOX_UNAVAILABLE: { status: 503, grpc: 14 },
  STORE_UNAVAILABLE: { status: 503, grpc: 14 },
  INTERNAL: { status: 500, grpc: 13 },
} as const satisfies Record<ErrorCode, { status: number; grpc: number }>;

/** Turns a ZodError into one message naming each field and why. */
export function fromZodError(error: ZodError): AppError {
  const details = error.issues.map((i) => ({
    field: i.path.map(String).join('.') || '(body)',
    reason: i.code,
    message: i.message,
  }));
  return new AppError('BAD_REQUEST', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
}

/** Route hook: a body that fails its schema is a 400 naming each field, in the shape of every other error. */
export function validationHook(result: { success: true } | { success: false; error: ZodError }): void {
  if (!result.success) throw fromZodError(result.error);
}

/** Any error as the AppError kiln answers with; one that is not kiln's own is logged and becomes INTERNAL. */
function asAppError(err: unknown, c: Context<AppEnv>, log: Logger): AppError {
  let appError: AppError;
  if (err instanceof AppError) appError = err;
  else if (err instanceof ZodError) appError = fromZodError(err);
  else if (err instanceof HTTPException && err.status < 500) {
    const code: ErrorCode = err.status === 413 ? 'PAYLOAD_TOO_LARGE' : err.status === 401 ? 'UNAUTHENTICATED' : 'BAD_REQUEST';
    // a body that is not JSON at all is named like every other bad field
    const details = /malformed json/i.test(err.message) ? [{ field: '(body)', reason: 'malformed_json' }] : undefined;
    appError = new AppError(code, err.message || 'bad request', details);
  } else if (storeUnavailable(err)) {
    // the database (PostgreSQL, for replicas) is away: like an engine outage, a 503 to retry
    log.warn({ err: String(err), requestId: c.get('requestId') }, 'the database does not answer');
    appError = new AppError('STORE_UNAVAILABLE', 'the database does not answer; try again shortly', [{ reason: 'store_unavailable' }], 5);
  } else {
    log.error({ err, requestId: c.get('requestId') }, 'unhandled error');
    appError = new AppError('INTERNAL', 'internal error');
  }
  return appError;
}

/** An error's AppError, HTTP status and headers by kiln's table (the console renders them as a page). */
export function describeError(err: unknown, c: Context<AppEnv>, log: Logger) {
  const error = asAppError(err, c, log);
  const { status, grpc } = TABLE[error.code];
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  // RFC 6750: a 401 names the scheme it wants (MCP clients read it too)
  if (error.code === 'UNAUTHENTICATED') headers['WWW-Authenticate'] = 'Bearer realm="kiln"';
  return { error, status, grpc, headers };
}

/**
 * The one place errors become responses: the status and headers of kiln's table, and a body in
 * the caller's dialect — kiln's `{code, message, details?}` unless `shape` gives another
 * (JSON-RPC for /mcp, XRPC for /xrpc).
 */
export function toErrorResponse(
  err: unknown,
  c: Context<AppEnv>,
  log: Logger,
  shape?: (error: AppError, status: number) => unknown,
): Response {
  const { error, status, grpc, headers } = describeError(err, c, log);
  const body: Record<string, unknown> = { code: grpc, message: error.message };
  if (error.details?.length) body.details = error.details;
  return c.json((shape ? shape(error, status) : body) as Record<string, unknown>, status, headers);
}
