import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { AppError, type ErrorCode as KilnErrorCode } from '../../errors.js';
import { fromZodError, toErrorResponse } from '../error-response.js';
import type { AppEnv } from '../context.js';

/** A service fault's kiln code in JSON-RPC terms: the caller's mistake, or kiln's trouble. */
const CALLER_FAULTS = new Set<KilnErrorCode>(['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'PAYLOAD_TOO_LARGE', 'UNAUTHENTICATED']);

/** `field` as the tool's arguments name it: the core speaks of `input.n`, a model sent `arguments.n`. */
function rename(field: string, fields: Record<string, string>): string {
  for (const [from, to] of Object.entries(fields)) if (field === from || field.startsWith(`${from}.`)) return to + field.slice(from.length);
  return field;
}

/**
 * An error of the service (never of the user's code, which is a result with isError) as a
 * JSON-RPC error: bad arguments are InvalidParams naming the field; busy, Docker down and the
 * like are InternalError with kiln's code and, when it has one, how long to wait before retrying.
 */
export function toMcpError(err: unknown, fields: Record<string, string> = {}, log?: Logger): McpError {
  if (err instanceof McpError) return err;
  const appError = err instanceof AppError ? err : err instanceof ZodError ? fromZodError(err) : null;
  if (!appError) {
    log?.error({ err }, 'unhandled error in an MCP request');
    return new McpError(ErrorCode.InternalError, 'internal error');
  }
  const details = appError.details?.map((d) => (d.field ? { ...d, field: rename(d.field, fields) } : d));
  const renamed = details?.some((d, i) => d.field !== appError.details![i]!.field);
  // A renamed field is named again in the message, each with why (ajv's "/n" pointer dropped: the field says it).
  const message = renamed
    ? details!.map((d) => `${d.field}: ${(d.message ?? d.reason).replace(/^(\/\S*|\(root\)) /, '')}`).join('; ')
    : appError.message;
  const data = {
    code: appError.code,
    ...(details?.length ? { details } : {}),
    ...(appError.retryAfterSeconds !== undefined ? { retry_after_seconds: appError.retryAfterSeconds } : {}),
  };
  // McpError prefixes "MCP error <code>: "; the message stays what kiln's HTTP API would say
  const error = new McpError(CALLER_FAULTS.has(appError.code) ? ErrorCode.InvalidParams : ErrorCode.InternalError, message, data);
  error.message = message;
  return error;
}

/**
 * An error raised before the MCP transport saw the request (auth, size) with the HTTP status and
 * headers kiln gives it elsewhere (WWW-Authenticate, Retry-After), and a JSON-RPC error body, as
 * MCP clients read one.
 */
export const mcpHttpError = (err: unknown, c: Context<AppEnv>, log: Logger): Response =>
  toErrorResponse(err, c, log, (error) => ({
    jsonrpc: '2.0',
    id: null,
    error: { code: JSON_RPC_CODES[error.code], message: error.message },
  }));

/** The JSON-RPC code of each of kiln's errors raised before the transport: the caller's request, or kiln's trouble. */
const JSON_RPC_CODES = {
  BAD_REQUEST: ErrorCode.InvalidRequest,
  UNAUTHENTICATED: ErrorCode.InvalidRequest,
  FORBIDDEN: ErrorCode.InvalidRequest,
  NOT_FOUND: ErrorCode.InvalidRequest,
  CONFLICT: ErrorCode.InvalidRequest,
  PAYLOAD_TOO_LARGE: ErrorCode.InvalidRequest,
  BUSY: ErrorCode.InvalidRequest,
  SANDBOX_UNAVAILABLE: ErrorCode.InternalError,
  STORE_UNAVAILABLE: ErrorCode.InternalError,
  INTERNAL: ErrorCode.InternalError,
} as const satisfies Record<KilnErrorCode, number>;
