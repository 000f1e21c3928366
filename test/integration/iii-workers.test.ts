// iii workers built with the real iii-sdk, connected to kiln as their engine: registration, kiln
// invoking a worker's function, a conflict between two workers, a worker leaving mid-call, and a
// worker running a saved tool (sandboxed code on the real engine) as `kiln::<name>`.
import { randomBytes } from 'node:crypto';
import { registerWorker } from 'iii-sdk';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

const OTHER_KEY = `other-${randomBytes(12).toString('hex')}`;
let kiln: TestKiln;
const opened: { shutdown(): Promise<void> }[] = [];

beforeAll(async () => {
  kiln = await startTestKiln({ KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}` });
});
afterAll(async () => {
  for (const w of opened) await w.shutdown().catch(() => {});
  await kiln?.close();
});

const wsUrl = () => `${kiln.url.replace('http://', 'ws://')}/iii`;
function worker(key = TEST_KEY) {
  const w = registerWorker(wsUrl(), {
    workerName: 'test',
    headers: { Authorization: `Bearer ${key}` },
    otel: { enabled: false },
    invocationTimeoutMs: 20_000,
  });
  opened.push(w);
  return w;
}
/** Waits until kiln lists `id` as a worker function of the key's project. */
async function registered(id: string, present = true) {
  for (let i = 0; i < 200; i++) {
    const { body } = await kiln.request('GET', '/v1/functions');
    if (body.functions.some((f: { id: string }) => f.id === id) === present) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${id} was ${present ? 'never' : 'still'} registered`);
}

describe('iii workers on kiln', () => {
  it('a worker registers a function and kiln invokes it; every invocation is logged', async () => {
    const w = worker();
    w.registerFunction('math::add', async (input: { a: number; b: number }) => ({ sum: input.a + input.b }), { description: 'adds' });
    await registered('math::add');
    const res = await kiln.post('/v1/functions/math::add/invoke', { data: { a: 2, b: 40 } });
    expect(res.body).toMatchObject({ function_id: 'math::add', result: { sum: 42 } });
    const logged = await kiln.request('GET', `/v1/executions/${res.body.invocation_id}`);
    // the key that asked is named (KILN_API_KEYS' keys are `env`)
    expect(logged.body.details).toMatchObject({
      type: 'worker_function',
      via: 'iii',
      response: { result: { sum: 42 } },
      key: { name: 'env' },
    });
    // another project sees nothing of it
    expect((await kiln.request('GET', '/v1/functions/math::add', undefined, OTHER_KEY)).status).toBe(404);
  });

  it('refuses an unauthenticated worker, and rejects another worker registering an id that is taken', async () => {
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl());
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(refused).toBe(401);

    const owner = worker();
    owner.registerFunction('greet::hi', async () => ({ from: 'first' }));
    await registered('greet::hi');
    // a second worker, raw, to read the rejection the 0.22 SDK does not surface
    const frames: any[] = [];
    const raw = new WebSocket(wsUrl(), { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    raw.on('message', (m) => frames.push(JSON.parse(String(m))));
    await new Promise((r) => raw.on('open', r));
    raw.send(JSON.stringify({ type: 'registerfunction', id: 'greet::hi' }));
    for (let i = 0; i < 100 && !frames.some((f) => f.type === 'registrationrejected'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(frames[0]).toMatchObject({ type: 'workerregistered', worker_id: expect.any(String) });
    expect(frames.find((f) => f.type === 'registrationrejected')).toMatchObject({
      code: 'FUNCTION_NAMESPACE_CONFLICT',
      function_id: 'greet::hi',
      owner_worker_id: expect.any(String),
    });
    expect((await kiln.post('/v1/functions/greet::hi/invoke', { data: {} })).body.result).toEqual({ from: 'first' });
    // kiln's own names and ids that are not ids are refused visibly
    for (const id of ['kiln::double', 'a/b', '']) raw.send(JSON.stringify({ type: 'registerfunction', id }));
    for (let i = 0; i < 100 && frames.filter((f) => f.code === 'INVALID_FUNCTION').length < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(frames.filter((f) => f.code === 'INVALID_FUNCTION')).toHaveLength(3);
    raw.close();
  });

  it('a worker that leaves loses its functions, and a call in flight to it fails with invocation_stopped', async () => {
    const w = worker();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    w.registerFunction('slow::op', async () => {
      started();
      await new Promise((r) => setTimeout(r, 30_000));
      return {};
    });
    await registered('slow::op');
    const call = kiln.post('/v1/functions/slow::op/invoke', { data: {} });
    await running;
    await w.shutdown();
    expect((await call).body.error).toMatchObject({ code: 'invocation_stopped' });
    await registered('slow::op', false);
    expect((await kiln.post('/v1/functions/slow::op/invoke', { data: {} })).status).toBe(404);
  });

  it('a worker runs a saved tool (sandboxed) as kiln::<name>, and calls another worker through kiln', async () => {
    const tool = await kiln.post('/v1/tools', {
      name: 'double',
      language: 'python',
      code: 'def execute(input):\n    return {"twice": input["n"] * 2}',
    });
    expect(tool.status).toBe(200);
    const callee = worker();
    callee.registerFunction('echo::caller', async (input: { _caller_worker_id?: string }) => ({ caller: input._caller_worker_id ?? null }));
    await registered('echo::caller');
    const caller = worker();
    expect(await caller.trigger({ function_id: 'kiln::double', payload: { n: 21 } })).toEqual({ twice: 42 });
    const echoed = await caller.trigger<object, { caller: string | null }>({ function_id: 'echo::caller', payload: {} });
    expect(echoed.caller).toEqual(expect.any(String));
    await expect(caller.trigger({ function_id: 'kiln::no-such-tool', payload: {} })).rejects.toThrow(/function_not_found/);
  });
});
