/**
 * What each /v1 route needs of a key (issue 26; the scopes in src/access/scopes.ts): checked once
 * the key is known, before the route runs, so every refusal is the same 403 naming the scope.
 */
import type { MiddlewareHandler } from 'hono';
import { requireCode, requireScope, requireTool, type Scope } from '../../access/scopes.js';
import type { AppEnv } from '../context.js';

/** The scope a /v1 request needs, and what more it asks of a key limited to some tools. */
export function v1Scope(method: string, path: string): { scope: Scope; code?: boolean; tool?: string } {
  if (path === '/v1/keys' || path.startsWith('/v1/keys/') || path.startsWith('/v1/webhooks/secret')) return { scope: 'admin' };
  const tool = /^\/v1\/tools\/([^/]+)\/execute$/.exec(path);
  if (tool && method === 'POST') return { scope: 'run', tool: decodeURIComponent(tool[1]!) };
  if (method === 'POST' && (path === '/v1/execute' || path === '/v1/execute-function')) return { scope: 'run', code: true };
  // a session is code of the caller's, and its files are what the code made
  if (path === '/v1/sessions' || path.startsWith('/v1/sessions/'))
    return method === 'GET' && !path.includes('/files') ? { scope: 'read' } : { scope: 'run', code: true };
  if (/^\/v1\/executions\/[^/]+\/cancel$/.test(path)) return { scope: 'run' };
  // iii's functions: invoking one runs code the key cannot see
  if (/^\/v1\/functions\/[^/]+\/invoke$/.test(path) || path === '/v1/trigger') return { scope: 'run', code: true };
  if (method === 'GET' || method === 'HEAD') return { scope: 'read' };
  return { scope: 'manage' };
}

export const v1Scopes: MiddlewareHandler<AppEnv> = async (c, next) => {
  const need = v1Scope(c.req.method, c.req.path);
  const principal = c.get('principal');
  requireScope(principal, need.scope);
  if (need.code) requireCode(principal);
  if (need.tool) requireTool(principal, need.tool);
  await next();
};
