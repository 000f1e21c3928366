import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer auth against the configured keys; comparison in constant time (digests have equal length). */
export function bearerAuth(keys: readonly string[]): MiddlewareHandler {
  const digests = keys.map(digest);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    const given = digest(match?.[1] ?? '');
    // check every key, never stopping early, so timing says nothing about which matched
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, given) || ok;
    if (!match || !ok) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    await next();
  };
}
