import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { AppError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The project of a key (null for none). Comparison in constant time (digests have equal length),
 * and every key is checked, so timing says nothing about which matched.
 */
export function keyProjects(keys: readonly { project: string; key: string }[]): (key: string | undefined) => string | null {
  const digests = keys.map((k) => ({ project: k.project, digest: digest(k.key) }));
  return (key) => {
    const given = digest(key ?? '');
    let project: string | null = null;
    for (const d of digests) if (timingSafeEqual(d.digest, given)) project ??= d.project;
    return key ? project : null;
  };
}

/** The key of an `Authorization: Bearer <key>` header. */
export const bearerKey = (header: string | undefined) => /^Bearer\s+(.+)$/i.exec((header ?? '').trim())?.[1];

/** Bearer auth against the configured keys; the key's project becomes the request's `project`, which scopes everything the request can see. */
export function bearerAuth(keys: readonly { project: string; key: string }[]): MiddlewareHandler<AppEnv> {
  const projectOf = keyProjects(keys);
  return async (c, next) => {
    const project = projectOf(bearerKey(c.req.header('authorization')));
    if (project === null) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    c.set('project', project);
    await next();
  };
}
