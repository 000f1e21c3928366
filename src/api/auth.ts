import type { Context, MiddlewareHandler } from 'hono';
import { type Keys, keyProjects } from '../access/keys.js';
import { keyOfRequest, type Principal, requireScope, type Scope } from '../access/scopes.js';
import type { Caller } from '../execution/request.js';
import type { ExecutionVia } from '../store/store.js';
import { AppError } from '../errors.js';
import type { AppEnv } from './context.js';

export { keyProjects };

/** The key of an `Authorization: Bearer <key>` header. */
export const bearerKey = (header: string | undefined) => /^Bearer\s+(.+)$/i.exec((header ?? '').trim())?.[1];

/**
 * Key auth (KILN_API_KEYS' and the store's keys): the key's principal becomes the request's, and
 * its project the request's `project`, which scopes everything the request can see. `secretOf`
 * reads the key (a Bearer header by default; E2B's SDKs send X-API-Key).
 */
export function keyAuth(
  keys: Keys,
  secretOf: (c: Context<AppEnv>) => string | undefined = (c) => bearerKey(c.req.header('authorization')),
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await keys.authenticate(secretOf(c));
    if (principal === null) throw new AppError('UNAUTHENTICATED', 'unauthenticated');
    c.set('principal', principal);
    c.set('project', principal.project);
    await next();
  };
}

/** The request's principal (set by keyAuth). */
export const principalOf = (c: Context<AppEnv>): Principal => c.get('principal');

/** The request's caller, for a call the log records apart from the executor's (a session's call). */
export const callerOf = (c: Context<AppEnv>, via: ExecutionVia): Caller => ({ via, key: keyOfRequest(principalOf(c)) });

/** A route's scope, checked once the key is known: a 403 naming it otherwise. */
export const needs =
  (scope: Scope): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    requireScope(principalOf(c), scope);
    await next();
  };
