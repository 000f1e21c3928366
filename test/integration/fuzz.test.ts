// Every route of every dialect, driven by generated bodies (issue 20): deep nesting, huge strings,
// wrong types, odd Unicode, broken JSON and odd path parameters, several hundred per route, against
// a real kiln process with its real store and engine. No answer may be a 5xx, the process must
// live through it, and its memory may not grow past a bound. A failure names the route and the
// seed that makes its body again (FUZZ_SEED picks another run's seeds).
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE, TEST_KEY } from '../helpers/kiln.js';
import { spawnKiln, type KilnProcess } from '../helpers/kiln-process.js';
import { Base64Json, fuzzBody, seeded } from '../helpers/fuzz-bodies.js';

const PER_ROUTE = Number(process.env.FUZZ_PER_ROUTE ?? 300);
const BASE_SEED = Number(process.env.FUZZ_SEED ?? 20);
const AT_ONCE = 6;
const MiB = 1024 * 1024;

let kiln: KilnProcess;
let upstream: http.Server;
const ids: Record<string, string> = {};

beforeAll(async () => {
  upstream = http.createServer((req, res) => req.resume().on('end', () => res.end('{"ok":true}')));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upstreamHost = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ids.upstream = upstreamHost;
  kiln = await spawnKiln({
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-fuzz-')),
    KILN_INSTANCE: TEST_INSTANCE,
    KILN_LOG_LEVEL: 'info',
    KILN_XRPC_PUBLIC: 'true',
    // resolution and calls stay on this machine: a PLC directory on a closed local port, functions at the local upstream only
    KILN_AT_PLC_URL: 'http://127.0.0.1:9',
    KILN_AT_ALLOW_HTTP: 'true',
    KILN_FUNCTIONS_ALLOW_HTTP: 'true',
    KILN_FUNCTIONS_ALLOW_ADDRESSES: upstreamHost,
    KILN_WEBHOOK_ALLOW_ADDRESSES: upstreamHost,
    KILN_POOL_PYTHON: '2',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_DEFAULT_TIMEOUT_SECONDS: '5',
  });
  const post = (path: string, body: unknown) => call(kiln.url, 'POST', path, body);
  ids.tool = (await post('/v1/tools', { name: 'echo', language: 'python', code: 'def execute(input):\n    return input' })).body.id;
  ids.secret = (await post('/v1/secrets', { name: 'fuzz', value: 'fuzz-secret-value' })).body.id;
  const fn = await post('/api/v1/functions', {
    displayName: 'fuzz',
    initialContent: { 'main.ts': Buffer.from('export default async (i) => ({ ...i })').toString('base64') },
  });
  ids.c1 = fn.body.function.id;
  ids.commit = fn.body.commit.id;
  const pending = await post(`/api/v1/functions/${ids.c1}/commits`, { filenames: ['main.ts'] });
  ids.upload = new URL(pending.body.uploadUrls['main.ts']).pathname + new URL(pending.body.uploadUrls['main.ts']).search;
  expect((await post('/v1/functions', { id: 'fuzz.http', invocation: { url: `http://${upstreamHost}/f` } })).status).toBe(200);
  ids.exec = (await post('/v1/execute', { language: 'python', code: 'print(1)' })).body.id;
}, 120_000);
afterAll(async () => {
  await kiln?.stop();
  upstream?.close();
});

/** Each route of each dialect: method, path (`:name` filled from `ids`, sometimes with an odd value), and a valid body. */
const ROUTES: [string, string, Record<string, unknown>][] = [
  [
    'POST',
    '/v1/execute',
    { language: 'python', code: 'print(1)', stdin: '', args: [], env: { A: 'b' }, limits: { execution_timeout: 5, memory_size: 128 } },
  ],
  [
    'POST',
    '/v1/execute-function',
    {
      language: 'javascript',
      code: 'function execute(i) { return i }',
      input: { a: 1 },
      files: [{ path: 'a.txt', contents: 'x' }],
      http: { allow: [{ host: 'api.example.com' }] },
    },
  ],
  [
    'POST',
    '/v1/tools',
    {
      name: 't',
      language: 'python',
      code: 'def execute(i):\n    return i',
      input_schema: { type: 'object' },
      env: [{ name: 'A', value: 'b' }],
    },
  ],
  ['GET', '/v1/tools?limit=5', {}],
  ['GET', '/v1/tools/:tool', {}],
  ['POST', '/v1/tools/:tool', { description: 'd', input_schema: { type: 'object', properties: { a: { type: 'number' } } } }],
  ['POST', '/v1/tools/:tool/execute', { input: { a: 1 }, env: [{ name: 'S', secret_id: 'secret' }], revision_id: null }],
  ['GET', '/v1/tools/:tool/revisions', {}],
  ['GET', '/v1/tools/:tool/definition?format=anthropic', {}],
  ['DELETE', '/v1/tools/:random', {}],
  ['POST', '/v1/secrets', { name: 'n', value: 'v' }],
  ['GET', '/v1/secrets', {}],
  ['POST', '/v1/secrets/:secret', { value: 'new-value' }],
  ['DELETE', '/v1/secrets/:random', {}],
  ['GET', '/v1/executions?limit=3&only_non_zero_exit_codes=true', {}],
  ['GET', '/v1/executions/:exec', {}],
  ['POST', '/v1/executions/:exec/cancel', {}],
  ['POST', '/v1/runtimes', { name: 'r', language: 'ruby', manifest_file: { name: 'Gemfile', contents: '' } }],
  ['GET', '/v1/runtimes', {}],
  ['GET', '/v1/runtimes/:random', {}],
  ['POST', '/v1/runtimes/:random/revisions', { manifest_file: { name: 'requirements.txt', contents: '' } }],
  ['GET', '/v1/runtimes/:random/revisions/:random/logs', {}],
  ['GET', '/v1/webhooks/secret', {}],
  [
    'POST',
    '/v1/functions',
    {
      id: 'f.x',
      description: 'd',
      request_format: { type: 'object' },
      invocation: {
        url: 'http://:upstream/f',
        method: 'POST',
        timeout_ms: 1000,
        headers: { 'x-a': 'b' },
        auth: { type: 'bearer', token_key: 'fuzz' },
      },
    },
  ],
  ['GET', '/v1/functions', {}],
  ['GET', '/v1/functions/:random', {}],
  ['POST', '/v1/functions/fuzz.http/invoke', { data: { a: 1 } }],
  [
    'POST',
    '/mcp',
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'execute_python', arguments: { code: 'print(1)', timeout: 5 } } },
  ],
  ['POST', '/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { a: 1 } } }],
  [
    'POST',
    '/api/v1/functions',
    {
      displayName: 'f',
      description: 'd',
      functionType: 'FUNCTION_TYPE_ANY',
      commitMessage: 'm',
      initialContent: { 'main.ts': 'ZXhwb3J0IGRlZmF1bHQgKCkgPT4gKHt9KQ==' },
    },
  ],
  ['GET', '/api/v1/functions', {}],
  ['GET', '/api/v1/functions/:c1', {}],
  [
    'POST',
    '/api/v1/functions/update',
    { function: { id: 'c1', displayName: 'x', publishedCommitId: 'commit' }, updateMask: 'displayName,publishedCommitId' },
  ],
  ['POST', '/api/v1/functions/:c1/commits', { commitMessage: 'm', filenames: ['main.ts', 'a.json'] }],
  ['GET', '/api/v1/functions/:c1/commits/:commit', {}],
  ['POST', '/api/v1/functions/:c1/commits/:random/finalize', {}],
  ['POST', '/api/v1/functions/:c1/invoke', { commitId: 'commit', json: new Base64Json({ a: 1, b: [1, 2] }) }],
  ['GET', '/api/v1/functions/:c1/invocations?page_size=2', {}],
  ['POST', '/api/v1/functions/:c1/invocations/search', { pageSize: 5, pageToken: '' }],
  ['PUT', ':upload', { raw: 'export default () => ({})' }],
  ['GET', '/healthz', {}],
  ['GET', '/metrics', {}],
  ['GET', '/openapi.json', {}],
  ['POST', '/xrpc/at.functions.run', { function: 'at://did:plc:fuzzfuzzfuzzfuzzfuzzfuzz/at.functions.metadata/x', input: { a: 1 } }],
];

/** The path with its parameters filled: the fixture's id mostly, an odd value sometimes. */
function pathFor(template: string, r: ReturnType<typeof seeded>): string {
  if (template === ':upload') return ids.upload!;
  return template.replace(/:([a-z0-9]+)/g, (_, name: string) => {
    if (name === 'upstream') return ids.upstream!;
    if (name !== 'random' && r.next() < 0.8) return ids[name]!;
    return encodeURIComponent(
      r.pick(['x', 'tool_0', `exec_${'9'.repeat(26)}`, '\u202e', '../..', '%00', '𝕜'.repeat(300), 'a'.repeat(2000), ' ', '.']),
    );
  });
}

/** Fills the template's own references (`secret`, `commit`, `c1`) with the fixtures' ids. */
function withIds(template: Record<string, unknown>): Record<string, unknown> {
  const fill = (v: unknown): unknown => {
    if (typeof v === 'string') return /^(secret|commit|c1)$/.test(v) ? ids[v] : v.replace(':upstream', ids.upstream!);
    if (v instanceof Base64Json) return new Base64Json(fill(v.inner));
    if (Array.isArray(v)) return v.map(fill);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  return fill(template) as Record<string, unknown>;
}

const rssBytes = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${kiln.pid}/status`, 'utf8'))![1]) * 1024;

async function send(method: string, path: string, body: { text: string; contentType: string }) {
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_KEY}`, accept: 'application/json, text/event-stream' };
  if (body.contentType) headers['content-type'] = body.contentType;
  const res = await fetch(kiln.url + path, {
    method,
    headers,
    body: method === 'GET' || method === 'DELETE' ? undefined : body.text,
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, text: (await res.text()).slice(0, 300) };
}

describe('fuzzing every route', () => {
  it(`answers ${PER_ROUTE} generated bodies per route with no 5xx, and stays within its memory`, async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let warmRss = 0;
    for (const [round, count] of [
      [0, 20],
      [1, PER_ROUTE - 20],
    ] as const) {
      for (const [routeIndex, [method, template, valid]] of ROUTES.entries()) {
        const jobs = Array.from({ length: count }, (_, i) => BASE_SEED * 1_000_000 + routeIndex * 1000 + round * 100 + i);
        for (let i = 0; i < jobs.length; i += AT_ONCE)
          await Promise.all(
            jobs.slice(i, i + AT_ONCE).map(async (seed) => {
              const r = seeded(seed);
              const path = pathFor(template, r);
              const body =
                method === 'PUT'
                  ? { text: r.next() < 0.5 ? String(valid.raw) : 'x'.repeat(r.pick([0, 10, 2 * MiB])), contentType: '' }
                  : fuzzBody(r, withIds(valid));
              const res = await send(method, path, body).catch((err: Error) => ({ status: 599, text: String(err) }));
              statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
              if (res.status >= 500) failures.push(`${method} ${template} seed ${seed}: ${res.status} ${res.text}`);
            }),
          );
      }
      if (round === 0) warmRss = rssBytes();
    }
    const grown = rssBytes() - warmRss;
    console.log(
      `fuzz: ${[...statuses.entries()]
        .sort()
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}; rss ${(warmRss / MiB).toFixed(0)} → +${(grown / MiB).toFixed(0)} MiB`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    expect((await fetch(`${kiln.url}/healthz`)).status).toBe(200);
    // bodies of up to 10 MiB were parsed by the thousand: the heap may keep some, never a body per request
    expect(grown).toBeLessThan(400 * MiB);
  }, 1_200_000);

  it(`takes ${PER_ROUTE} generated frames on an iii worker socket and still answers a ping`, async () => {
    const ws = new WebSocket(`${kiln.url.replace('http://', 'ws://')}/iii`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    const frames: { type?: string }[] = [];
    ws.on('message', (raw) => frames.push(JSON.parse(String(raw))));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const templates = [
      { type: 'registerfunction', id: 'fz.a', request_format: { type: 'object' } },
      { type: 'invokefunction', invocation_id: 'i1', function_id: 'fuzz.http', data: { a: 1 } },
      { type: 'invokefunction', invocation_id: 'i2', function_id: 'kiln::echo', data: { a: 1 } },
      { type: 'invocationresult', invocation_id: 'nobody', result: { a: 1 } },
      { type: 'unregisterfunction', id: 'fz.a' },
      { type: 'registertrigger', id: 't', trigger_type: 'x', config: {} },
    ];
    for (let i = 0; i < PER_ROUTE; i++) {
      const r = seeded(BASE_SEED * 1_000_000 + 900_000 + i);
      ws.send(fuzzBody(r, r.pick(templates)).text);
    }
    ws.send(JSON.stringify({ type: 'ping' }));
    for (let i = 0; i < 600 && !frames.some((f) => f.type === 'pong'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(frames.some((f) => f.type === 'pong')).toBe(true);
    ws.close();
    expect((await fetch(`${kiln.url}/healthz`)).status).toBe(200);
  }, 120_000);
});
