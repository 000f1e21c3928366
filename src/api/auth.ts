import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { AppError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer auth against the configured keys; the key's project becomes the request's `project`,
 * which scopes everything the request can see. Comparison in constant time (digests have equal
 * length), and every key is checked, so timing says nothing about which matched.
 */
export function bearerAuth(keys: readonly { project: string; key: string }[]): MiddlewareHandler<AppEnv> {
  const digests = keys.map((k) => ({ project: k.project, digest: digest(k.key) }));
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    const given = digest(match?.[1] ?? '');
    let project: string | null = null;
    for (const d of digests) if (timingSafeEqual(d.digest, given)) project ??= d.project;
    if (!match || project === null) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    c.set('project', project);
    await next();
  };
}
