import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../errors.js';
import type { AppEnv } from './context.js';

/** A 413 naming the body: what every dialect answers to a body over KILN_MAX_BODY_BYTES. */
function tooLarge(maxBytes: number): never {
  throw new AppError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes`, [{ field: '(body)', reason: 'too_large' }]);
}

/**
 * The request body bound. With a Content-Length the header decides, and the body is left for the
 * validator to read once (counting it as a stream costs a copy); a chunked body is counted as it
 * arrives.
 */
export function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  const countBody = bodyLimit({ maxSize: maxBytes, onError: () => tooLarge(maxBytes) });
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding')) return countBody(c, next);
    if (Number(length) > maxBytes) tooLarge(maxBytes);
    await next();
  };
}

/**
 * The bound for a body that streams on elsewhere (a session's file, into its box): a declared
 * length past it is a 413 at once, and a chunked body is left as a stream for its reader, which
 * enforces the bound as it copies (hono's bodyLimit would read it all into memory first).
 */
export function limitStreamedBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) > maxBytes) tooLarge(maxBytes);
    await next();
  };
}

/** A 400 naming the headers, for a dialect whose bodies are JSON only. */
export const notJson = () =>
  new AppError('BAD_REQUEST', 'Content-Type must be application/json', [{ field: '(headers)', reason: 'content_type' }]);

export const isJson = (contentType: string | undefined) => /^application\/json\b/i.test(contentType ?? '');
