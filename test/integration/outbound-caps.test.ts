// Caps that hold under bursts (issue 20, item 7), on a real kiln with its real store: a burst of
// registrations never passes the per-worker cap; a project's worker connections are capped at the
// upgrade; kiln's own outbound calls (iii HTTP functions, worker invocations) hold at most their
// per-project share at once and answer 429 past it, while another project's calls go on; a worker's
// result over the result limit is refused rather than buffered and logged; C1's invocation list
// takes only a page size its search form would.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

const OTHER_KEY = `other-${randomBytes(12).toString('hex')}`;
const RESULT_LIMIT = 64 * 1024;
let kiln: TestKiln;
let upstream: http.Server;
let base: string;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('{"ok":true}'), req.url === '/slow' ? 1500 : 0));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}`,
    KILN_III_MAX_WORKERS: '3',
    KILN_OUTBOUND_CONCURRENCY: '2',
    KILN_RESULT_LIMIT_BYTES: String(RESULT_LIMIT),
    KILN_FUNCTIONS_ALLOW_HTTP: 'true',
    KILN_FUNCTIONS_ALLOW_ADDRESSES: base.replace('http://', ''),
    KILN_POOL_PYTHON: '0',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
});
afterAll(async () => {
  for (const s of sockets) s.terminate();
  await kiln?.close();
  upstream?.close();
});

/** A raw iii worker connection: frames it received, and a way to send. */
async function connect(key = TEST_KEY): Promise<{ ws: WebSocket; frames: Record<string, any>[] } | { status: number }> {
  const ws = new WebSocket(`${kiln.url.replace('http://', 'ws://')}/iii`, { headers: { authorization: `Bearer ${key}` } });
  const frames: Record<string, any>[] = [];
  ws.on('message', (raw) => frames.push(JSON.parse(String(raw))));
  return new Promise((resolve) => {
    ws.once('open', () => {
      sockets.push(ws);
      resolve({ ws, frames });
    });
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
  });
}
const until = async (check: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
};

describe('caps under bursts', () => {
  it('a burst of 1,500 registrations from one worker registers 1,000', async () => {
    const w = await connect();
    if (!('ws' in w)) throw new Error(`no connection: ${w.status}`);
    for (let i = 0; i < 1500; i++) w.ws.send(JSON.stringify({ type: 'registerfunction', id: `burst.f${i}` }));
    await until(() => w.frames.filter((f) => f.type === 'registrationrejected').length >= 500);
    await new Promise((r) => setTimeout(r, 300)); // any lookup still under way lands
    const { body } = await kiln.request('GET', '/v1/functions');
    expect(body.functions.filter((f: { id: string }) => f.id.startsWith('burst.'))).toHaveLength(1000);
    expect(w.frames.filter((f) => f.type === 'registrationrejected')).toHaveLength(500);
    w.ws.close();
    await new Promise((r) => setTimeout(r, 200)); // the server sees the close, and gives its place back
  });

  it("caps a project's worker connections at the upgrade; another project's are its own", async () => {
    const open = await Promise.all(Array.from({ length: 5 }, () => connect()));
    const accepted = open.filter((o) => 'ws' in o) as { ws: WebSocket }[];
    expect(accepted).toHaveLength(3);
    expect(open.filter((o) => 'status' in o).map((o) => (o as { status: number }).status)).toEqual([429, 429]);
    expect('ws' in (await connect(OTHER_KEY))).toBe(true);
    accepted[0]!.ws.close();
    await new Promise((r) => setTimeout(r, 200)); // the server sees the close
    const again = await connect();
    expect('ws' in again).toBe(true);
    for (const a of [...accepted, again as { ws: WebSocket }]) a.ws.close();
    await new Promise((r) => setTimeout(r, 200));
  });

  it("holds a project's outbound calls to its share: 429 past it, another project unaffected", async () => {
    for (const key of [TEST_KEY, OTHER_KEY])
      expect((await kiln.request('POST', '/v1/functions', { id: 'slow.call', invocation: { url: `${base}/slow` } }, key)).status).toBe(200);
    const invoke = (key = TEST_KEY) => kiln.request('POST', '/v1/functions/slow.call/invoke', { data: {} }, key);
    const mine = Promise.all([invoke(), invoke()]);
    await new Promise((r) => setTimeout(r, 300));
    const third = await fetch(`${kiln.url}/v1/functions/slow.call/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: '{"data":{}}',
    });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(((await third.json()) as any).details[0].reason).toBe('concurrency_cap');
    expect((await invoke(OTHER_KEY)).body).toMatchObject({ result: { ok: true } });
    expect((await mine).map((r) => r.body.result)).toEqual([{ ok: true }, { ok: true }]);
    expect((await invoke()).status).toBe(200); // the places are free again
  });

  it("refuses a worker's result over the result limit instead of holding and logging it", async () => {
    const w = await connect();
    if (!('ws' in w)) throw new Error(`no connection: ${w.status}`);
    w.ws.send(JSON.stringify({ type: 'registerfunction', id: 'big.answer' }));
    w.ws.on('message', (raw) => {
      const f = JSON.parse(String(raw));
      if (f.type === 'invokefunction')
        w.ws.send(
          JSON.stringify({
            type: 'invocationresult',
            invocation_id: f.invocation_id,
            function_id: f.function_id,
            result: 'x'.repeat(RESULT_LIMIT * 2),
          }),
        );
    });
    for (
      let i = 0;
      i < 100 && !(await kiln.request('GET', '/v1/functions')).body.functions.some((f: { id: string }) => f.id === 'big.answer');
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    const res = await kiln.request('POST', '/v1/functions/big.answer/invoke', { data: {} });
    expect(res.body).toMatchObject({ error: { code: 'invalid_response', message: expect.stringContaining(`${RESULT_LIMIT}`) } });
    const logged = await kiln.request('GET', `/v1/executions/${res.body.invocation_id}`);
    expect(JSON.stringify(logged.body).length).toBeLessThan(RESULT_LIMIT);
    w.ws.close();
  });

  it("C1's invocation list takes only a page size its search form would", async () => {
    const fn = await kiln.request('POST', '/api/v1/functions', {
      displayName: 'p',
      initialContent: { 'main.ts': Buffer.from('export default async () => ({})').toString('base64') },
    });
    const id = fn.body.function.id;
    for (const bad of ['-1', '1.5', 'abc', '1001']) {
      const res = await kiln.request('GET', `/api/v1/functions/${id}/invocations?page_size=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.details[0].field).toBe('page_size');
    }
    expect((await kiln.request('GET', `/api/v1/functions/${id}/invocations?pageSize=-3`)).body.details[0].field).toBe('pageSize');
    expect((await kiln.request('GET', `/api/v1/functions/${id}/invocations?page_size=0`)).status).toBe(200);
  });
});
