// iii functions registered with an HTTP invocation: kiln calls them as the iii engine does, and a
// receiver on 127.0.0.1 checks each auth kind and recomputes the HMAC by the engine's formula.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, PROJECT_B_KEY } from '../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;
const seen: { path: string; method: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
let receiver: http.Server;
let base: string;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ path: req.url!, method: req.method!, headers: req.headers, body });
      const answers: Record<string, [number, string, string?]> = {
        '/ok': [200, JSON.stringify({ sum: (JSON.parse(body || 'null')?.a ?? 0) + 1 }), 'application/json'],
        '/empty': [204, ''],
        '/text': [200, 'hello', 'text/plain'],
        '/fail': [422, JSON.stringify({ error: { code: 'E_BAD', message: 'nope' } }), 'application/json'],
        '/plainfail': [503, 'down'],
        '/redirect': [302, ''],
      };
      if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 2000);
      const [status, text, type] = answers[req.url!] ?? [404, ''];
      if (type) res.setHeader('content-type', type);
      if (req.url === '/redirect') res.setHeader('location', '/ok');
      res.statusCode = status;
      res.end(text);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => receiver.close());

const app = () => buildTestApp({ env: { KILN_FUNCTIONS_ALLOW_HTTP: 'true', KILN_FUNCTIONS_ALLOW_ADDRESSES: base.replace('http://', '') } });
async function json(a: App, method: string, path: string, body?: unknown, key?: string) {
  const res = await a.request(method, path, body, key);
  return { status: res.status, body: (await res.json()) as any };
}
const register = (a: App, fn: object) => json(a, 'POST', '/v1/functions', { type: 'registerfunction', ...fn });

describe('iii functions over HTTP', () => {
  it('calls with the engine headers and each auth kind; the HMAC is the engine formula', async () => {
    const a = await app();
    for (const [name, value] of [
      ['LAMBDA_TOKEN', 'tok-123'],
      ['WEBHOOK_SECRET', 'hmac-456'],
      ['API_KEY_ENV_VAR', 'key-789'],
    ])
      await json(a, 'POST', '/v1/secrets', { name, value });
    const fns = [
      {
        id: 'external.bearer',
        invocation: { url: `${base}/ok`, headers: { 'x-custom-header': 'value' }, auth: { type: 'bearer', token_key: 'LAMBDA_TOKEN' } },
      },
      { id: 'webhook.hmac', invocation: { url: `${base}/ok`, auth: { type: 'hmac', secret_key: 'WEBHOOK_SECRET' } } },
      {
        id: 'external.api',
        invocation: { url: `${base}/ok`, method: 'PUT', auth: { type: 'api_key', header: 'X-API-Key', value_key: 'API_KEY_ENV_VAR' } },
      },
    ];
    for (const fn of fns) expect((await register(a, fn)).status).toBe(200);
    const listed = await json(a, 'GET', '/v1/functions');
    expect(listed.body.functions.map((f: any) => f.id).sort()).toEqual(['external.api', 'external.bearer', 'webhook.hmac']);
    expect(JSON.stringify(listed.body)).not.toMatch(/tok-123|hmac-456|key-789/);

    for (const fn of fns) {
      const res = await json(a, 'POST', `/v1/functions/${fn.id}/invoke`, { data: { a: 41 } });
      expect(res.body).toMatchObject({ function_id: fn.id, result: { sum: 42 } });
      const req = seen.at(-1)!;
      expect(req.body).toBe('{"a":41}');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['x-iii-function-path']).toBe(fn.id);
      expect(req.headers['x-iii-invocation-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(Math.abs(Number(req.headers['x-iii-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
      if (fn.id === 'external.bearer') expect(req.headers).toMatchObject({ authorization: 'Bearer tok-123', 'x-custom-header': 'value' });
      if (fn.id === 'external.api') expect(req).toMatchObject({ method: 'PUT', headers: { 'x-api-key': 'key-789' } });
      if (fn.id === 'webhook.hmac') {
        const expected = createHmac('sha256', 'hmac-456')
          .update(`${req.headers['x-iii-timestamp']}:${Buffer.from(req.body).toString('base64')}`)
          .digest('hex');
        expect(req.headers['x-iii-signature']).toBe(`sha256=${expected}`);
      }
    }
    const logged = await json(a, 'GET', '/v1/executions');
    expect(logged.body.data[0].details).toMatchObject({
      type: 'http_function',
      via: 'iii',
      request: { function_id: 'external.api', data: { a: 41 } },
      response: { result: { sum: 42 } },
    });
    expect(JSON.stringify(logged.body)).not.toMatch(/tok-123|hmac-456|key-789/);
  });

  it('maps every kind of answer as the engine does', async () => {
    const a = await app();
    const cases: [string, unknown][] = [
      ['/empty', { result: null }],
      ['/text', { error: { code: 'invalid_response' } }],
      ['/fail', { error: { code: 'E_BAD', message: 'nope' } }],
      ['/plainfail', { error: { code: 'http_error', message: 'HTTP 503' } }],
      ['/redirect', { error: { code: 'http_error', message: 'HTTP 302' } }],
    ];
    for (const [path, expected] of cases) {
      await register(a, { id: `f${path.replace('/', '_')}`, invocation: { url: `${base}${path}` } });
      const res = await json(a, 'POST', `/v1/functions/f${path.replace('/', '_')}/invoke`, { data: null });
      expect(res.status, path).toBe(200);
      expect(res.body, path).toMatchObject(expected as object);
    }
    await register(a, { id: 'slow', invocation: { url: `${base}/slow`, timeout_ms: 200 } });
    expect((await json(a, 'POST', '/v1/functions/slow/invoke', { data: {} })).body.error).toMatchObject({ code: 'http_request_failed' });
    await register(a, { id: 'nobody', invocation: { url: 'http://127.0.0.1:1/x' } });
    expect((await json(a, 'POST', '/v1/functions/nobody/invoke', { data: {} })).body.error.code).toMatch(
      /http_request_failed|url_validation_failed/,
    );
  });

  it('refuses what it should: a missing secret as the engine words it, a duplicate, bad data, http, a private address', async () => {
    const a = await app();
    const missing = await register(a, {
      id: 'external.my_lambda',
      invocation: { url: `${base}/ok`, auth: { type: 'bearer', token_key: 'LAMBDA_TOKEN' } },
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({
      code: 'missing_env_var',
      message:
        "Missing environment variable 'LAMBDA_TOKEN' for Bearer token authentication. Please set this environment variable before registering the function.",
    });
    const schema = { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] };
    expect((await register(a, { id: 'pay', request_format: schema, invocation: { url: `${base}/ok` } })).status).toBe(200);
    const dup = await register(a, { id: 'pay', invocation: { url: `${base}/ok` } });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toMatch(/unregister it first/);
    const bad = await json(a, 'POST', '/v1/functions/pay/invoke', { data: { amount: 'ten' } });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('data.amount');
    expect((await json(a, 'POST', '/v1/functions/pay/invoke', { data: { amount: 10 } }, PROJECT_B_KEY)).status).toBe(404);

    const strict = await buildTestApp(); // neither http nor the receiver's address allowed
    expect((await register(strict, { id: 'p', invocation: { url: `${base}/ok` } })).body.details[0].field).toBe('invocation.url');
    await register(strict, { id: 'p', invocation: { url: `https://127.0.0.1:1/ok` } });
    const refused = await json(strict, 'POST', '/v1/functions/p/invoke', { data: {} });
    expect(refused.body.error).toMatchObject({ code: 'url_validation_failed' });
    expect(refused.body.error.message).toMatch(/^the address policy refused 127\.0\.0\.1 .*KILN_FUNCTIONS_ALLOW_ADDRESSES/);
  });

  it('refuses a function URL whose host name resolves to a forbidden address: url_validation_failed, the address left out', async () => {
    const a = await buildTestApp({
      env: { KILN_FUNCTIONS_ALLOW_HTTP: 'true', KILN_EGRESS_RESOLVE: JSON.stringify({ 'fn.internal.test': '127.0.0.1' }) },
    });
    const port = new URL(base).port;
    expect((await register(a, { id: 'by.name', invocation: { url: `http://fn.internal.test:${port}/ok` } })).status).toBe(200);
    const before = seen.length;
    const refused = await json(a, 'POST', '/v1/functions/by.name/invoke', { data: {} });
    expect(refused.body.error).toEqual({
      code: 'url_validation_failed',
      message:
        'the address policy refused fn.internal.test (a private, loopback or reserved address; KILN_FUNCTIONS_ALLOW_ADDRESSES allows one)',
    });
    expect(seen.length).toBe(before);
  });
});
