// Keys with scopes (issue 26), made through /v1/keys with a bootstrap key: a key that runs two tools
// and nothing else, on every surface (/v1, /mcp with the MCP SDK, E2B); read, manage and admin keys
// held to their scopes (403 naming the scope); the log says which key ran each execution; a revoked
// or expired key refused at its next request; no secret in the database file in clear.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
let dataDir: string;

beforeAll(async () => {
  dataDir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kiln-keys-'));
  kiln = await startTestKiln({ KILN_DATA_DIR: dataDir, KILN_POOL_PYTHON: '1', KILN_POOL_JAVASCRIPT: '0', KILN_POOL_TYPESCRIPT: '0' });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
});

const as = (key: string, method: string, path: string, body?: unknown) => kiln.request(method, path, body, key);
const tool = async (name: string) =>
  (
    await kiln.request('POST', '/v1/tools', {
      name,
      language: 'python',
      code: `def execute(input):\n    return {"tool": "${name}"}`,
    })
  ).body.id as string;
async function makeKey(name: string, scopes: string[], extra: Record<string, unknown> = {}) {
  const made = await kiln.request('POST', '/v1/keys', { name, scopes, ...extra });
  expect(made.status).toBe(200);
  expect(made.body.secret).toMatch(/^kiln_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
  return made.body as { id: string; secret: string };
}

describe('keys with scopes', () => {
  it('gives a third party a key that runs two tools and nothing else, through /v1, MCP and E2B; the log names it', {
    timeout: 90_000,
  }, async () => {
    const [a, b, other] = [await tool('tool_a'), await tool('tool_b'), await tool('tool_other')];
    const key = await makeKey('third party', [`tools:${a},${b}`]);
    expect((await as(key.secret, 'POST', `/v1/tools/${a}/execute`, { input: {} })).body.output).toEqual({ tool: 'tool_a' });
    const ran = await as(key.secret, 'POST', `/v1/tools/${b}/execute`, { input: {} });
    expect(ran.status).toBe(200);
    for (const [method, path, body, scope] of [
      ['POST', `/v1/tools/${other}/execute`, { input: {} }, `tools:${other}`],
      ['POST', '/v1/execute', { language: 'python', code: 'print(1)' }, 'run'],
      ['POST', '/v1/execute-function', { language: 'python', code: 'def execute(i):\n    return 1', input: null }, 'run'],
      ['POST', '/v1/sessions', { language: 'python' }, 'run'],
      ['POST', '/v1/tools', { name: 'x', language: 'python', code: 'def execute(i):\n    return 1' }, 'manage'],
      ['POST', '/v1/secrets', { name: 'x', value: 'y' }, 'manage'],
      ['GET', '/v1/keys', undefined, 'admin'],
      ['GET', '/v1/webhooks/secret', undefined, 'admin'],
    ] as const) {
      const refused = await as(key.secret, method, path, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(JSON.stringify(refused.body)).toContain(scope);
    }
    // it sees its two tools, and no other
    const seen = await as(key.secret, 'GET', '/v1/tools');
    expect((seen.body.tools as { id: string }[]).map((t) => t.id).sort()).toEqual([a, b].sort());
    expect((await as(key.secret, 'GET', `/v1/tools/${other}`)).status).toBe(404);
    expect((await as(key.secret, 'GET', `/v1/tools/${a}`)).status).toBe(200);
    // reading the log is in run's scope; and the log says which key ran what
    const logged = await as(key.secret, 'GET', `/v1/executions/${ran.body.execution.id}`);
    expect(logged.status).toBe(200);
    expect(logged.body.details.key).toEqual({ id: key.id, name: 'third party' });
    // MCP: the key sees its two tools, and no way to run code of its own
    const client = new Client({ name: 'keys-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key.secret}` } },
      }),
    );
    try {
      const listed = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(listed).toEqual(['tool_a', 'tool_b']);
      expect((await client.callTool({ name: 'tool_a', arguments: {} })).structuredContent).toMatchObject({ output: { tool: 'tool_a' } });
      const code = await client.callTool({ name: 'execute_python', arguments: { code: 'print(1)' } }).catch((e: unknown) => e);
      expect(String((code as Error).message ?? JSON.stringify(code))).toMatch(/only its tools|run/);
      const unlisted = await client.callTool({ name: 'tool_other', arguments: {} }).catch((e: unknown) => e);
      expect(String((unlisted as Error).message ?? JSON.stringify(unlisted))).toMatch(/no tool named/);
    } finally {
      await client.close();
    }
    // E2B: a sandbox runs code of the caller's
    const e2b = await fetch(`${kiln.url}/e2b/v2/sandboxes`, {
      method: 'POST',
      headers: { 'x-api-key': key.secret, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(e2b.status).toBe(403);
  });

  it('holds read, manage and admin keys to their scopes; revokes and expires keys at once; keeps no secret in clear', {
    timeout: 60_000,
  }, async () => {
    const read = await makeKey('reader', ['read']);
    const manage = await makeKey('manager', ['manage']);
    const admin = await makeKey('admin', ['admin']);
    expect((await as(read.secret, 'GET', '/v1/tools')).status).toBe(200);
    expect((await as(read.secret, 'GET', '/v1/executions')).status).toBe(200);
    expect((await as(read.secret, 'POST', '/v1/execute', { language: 'python', code: 'print(1)' })).status).toBe(403);
    expect((await as(read.secret, 'POST', '/v1/secrets', { name: 'r', value: 'v' })).status).toBe(403);
    expect((await as(manage.secret, 'POST', '/v1/secrets', { name: 'm', value: 'v' })).status).toBe(200);
    expect((await as(manage.secret, 'POST', '/v1/execute', { language: 'python', code: 'print(1)' })).status).toBe(403);
    expect((await as(manage.secret, 'POST', '/v1/keys', { name: 'x', scopes: ['read'] })).status).toBe(403);
    const byAdmin = await as(admin.secret, 'POST', '/v1/keys', { name: 'made by admin', scopes: ['run'] });
    expect(byAdmin.status).toBe(200);
    expect((await as(admin.secret, 'POST', '/v1/keys', { name: 'elsewhere', project: 'another', scopes: ['run'] })).status).toBe(403);
    expect((await as(admin.secret, 'POST', '/v1/keys', { name: 'bad', scopes: ['root'] })).body.details[0]).toMatchObject({
      field: 'scopes[0]',
      reason: 'unknown_scope',
    });
    expect((await as(byAdmin.body.secret, 'POST', '/v1/execute', { language: 'python', code: 'print(2)' })).body.stdout).toBe('2\n');
    // the list shows no secret; a revoked key is refused at its next request
    const listed = await as(admin.secret, 'GET', '/v1/keys');
    expect(JSON.stringify(listed.body)).not.toContain(byAdmin.body.secret);
    expect((await as(admin.secret, 'DELETE', `/v1/keys/${byAdmin.body.id}`)).body.revoked_at).toBeTruthy();
    expect((await as(byAdmin.body.secret, 'GET', '/v1/tools')).status).toBe(401);
    expect((await as(admin.secret, 'DELETE', `/v1/keys/${byAdmin.body.id}`)).status).toBe(404);
    // an expired key: refused once its time has come
    const brief = await makeKey('brief', ['read'], { expires_at: new Date(Date.now() + 1500).toISOString() });
    expect((await as(brief.secret, 'GET', '/v1/tools')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    expect((await as(brief.secret, 'GET', '/v1/tools')).status).toBe(401);
    // a forged secret of a real key's id: refused like any unknown key
    expect((await as(`${read.secret.slice(0, -4)}AAAA`, 'GET', '/v1/tools')).status).toBe(401);
    // the database keeps hashes only (the SQLite file, and its write-ahead log)
    if (process.env.KILN_TEST_STORE !== 'postgres')
      for (const file of ['kiln.db', 'kiln.db-wal'].filter((f) => existsSync(join(dataDir, f)))) {
        const db = readFileSync(join(dataDir, file)).toString('latin1');
        for (const k of [read, manage, admin]) expect(db).not.toContain(k.secret.slice(-43));
      }
    // the bootstrap key (KILN_API_KEYS) keeps every scope
    expect((await as(TEST_KEY, 'GET', '/v1/keys')).status).toBe(200);
  });
});
