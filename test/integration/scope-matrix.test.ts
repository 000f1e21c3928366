// Scopes on every route (issue 26), as a generated matrix: every /v1 route kiln documents
// (/openapi.json), and the other dialects' doors, asked with a key of each scope. A route the scope
// does not cover answers 403 naming the scope; one it covers answers anything but 403 (a 400 for the
// empty body, a 404 for the made-up id): the check comes before the route, whatever is asked of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allows, parseScopes, type Scope } from '../../src/access/scopes.js';
import { v1Scope } from '../../src/api/riza/scopes.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
const keys: Record<string, string> = {};
const KEYS: Record<string, string[]> = {
  read: ['read'],
  run: ['run'],
  manage: ['manage'],
  admin: ['admin'],
  'tools:tool_x': ['tools:tool_x'],
};

beforeAll(async () => {
  kiln = await startTestKiln({ KILN_POOL_PYTHON: '0', KILN_POOL_JAVASCRIPT: '0', KILN_POOL_TYPESCRIPT: '0' });
  for (const [name, scopes] of Object.entries(KEYS)) keys[name] = (await kiln.request('POST', '/v1/keys', { name, scopes })).body.secret;
}, 60_000);
afterAll(async () => {
  await kiln?.close();
});

/** Whether a key of `scopes` may make the request, by the policy: a scope, and for a tools-limited key its tools only. */
function expected(scopes: string[], need: { scope: Scope; code?: boolean; tool?: string }): boolean {
  const p = parseScopes(scopes);
  if (!allows(p, need.scope)) return false;
  if (need.code && p.tools !== null) return false;
  return !(need.tool && p.tools !== null && !p.tools.includes(need.tool));
}

/** The other dialects' doors, with what each needs. */
const OTHERS: { method: string; path: string; need: { scope: Scope; code?: boolean }; headers?: (k: string) => Record<string, string> }[] =
  [
    { method: 'GET', path: '/api/v1/functions', need: { scope: 'read' } },
    { method: 'POST', path: '/api/v1/functions', need: { scope: 'manage' } },
    { method: 'POST', path: '/api/v1/functions/fn_x/invoke', need: { scope: 'run', code: true } },
    { method: 'POST', path: '/api/v1/functions/fn_x/invocations/search', need: { scope: 'read' } },
    { method: 'GET', path: '/e2b/v2/sandboxes', need: { scope: 'read' }, headers: (k) => ({ 'x-api-key': k }) },
    { method: 'POST', path: '/e2b/v2/sandboxes', need: { scope: 'run', code: true }, headers: (k) => ({ 'x-api-key': k }) },
    { method: 'POST', path: '/e2b/sandboxes/sess_x/timeout', need: { scope: 'run', code: true }, headers: (k) => ({ 'x-api-key': k }) },
    { method: 'POST', path: '/xrpc/at.functions.run', need: { scope: 'run', code: true } },
  ];

describe('every route × every scope', () => {
  it('answers 403 naming the scope exactly where the scope does not reach, on /v1 and every other dialect', {
    timeout: 120_000,
  }, async () => {
    const doc = (await (await fetch(`${kiln.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes: { method: string; path: string; need: ReturnType<typeof v1Scope>; headers?: (k: string) => Record<string, string> }[] =
      [];
    for (const [template, ops] of Object.entries(doc.paths))
      for (const method of Object.keys(ops)) {
        if (!template.startsWith('/v1/')) continue;
        // a made-up id for each parameter: the tools-limited key's own tool where the route runs one
        const path = template.replace(/\{id\}/g, template.includes('/tools/') ? 'tool_x' : 'x').replace(/\{[^}]+\}/g, 'x');
        routes.push({ method: method.toUpperCase(), path, need: v1Scope(method.toUpperCase(), path) });
      }
    routes.push(...OTHERS);
    expect(routes.length).toBeGreaterThan(40);
    const wrong: string[] = [];
    for (const route of routes)
      for (const [name, scopes] of Object.entries(KEYS)) {
        const res = await fetch(kiln.url + route.path, {
          method: route.method,
          headers: {
            ...(route.headers ? route.headers(keys[name]!) : { authorization: `Bearer ${keys[name]}` }),
            ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
          },
          ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: '{}' }),
        });
        const text = await res.text();
        const allowed = expected(scopes, route.need);
        if (allowed ? res.status === 403 : res.status !== 403 || !/scope|only its tools|may not run/.test(text))
          wrong.push(`${route.method} ${route.path} with ${name}: ${res.status} ${text.slice(0, 120)}`);
      }
    expect(wrong).toEqual([]);
  });
});
