/**
 * kiln's errors, dialect-free: the codes, AppError (an error of the service, never of the user's
 * code) and its field details. How each dialect renders them lives under src/api/.
 */

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'BUSY'
  | 'SANDBOX_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL';

export interface ErrorDetail {
  field?: string;
  reason: string;
  message?: string;
}

/** An error of the service (never of the user's code), mapped to a status by toErrorResponse. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** A 400 about one field: the message names it, and the detail says why. */
export const fieldError = (field: string, reason: string, message: string) =>
  new AppError('BAD_REQUEST', `${field}: ${message}`, [{ field, reason, message }]);

/**
 * Whether `err` says the database cannot be reached now (not that a query was wrong): PostgreSQL's
 * connection exceptions (class 08), shutdowns and "cannot connect now" (57P01-57P03), too many
 * connections (53300); the network's refusals and resets; pg-pool's connect timeout; SQLite busy.
 */
export function storeUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return (
    code.startsWith('08') ||
    ['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'SQLITE_BUSY'].includes(code) ||
    /timeout exceeded when trying to connect|Connection terminated/i.test(message)
  );
}
