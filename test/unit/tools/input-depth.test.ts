// Every surface bounds its input's depth (MAX_INPUT_DEPTH, src/execution/input-depth.ts) and names
// its own field: past a few thousand levels kiln's own JSON.stringify overflowed (a 500, or for an
// iii worker's frame an unhandled rejection that ended the process).
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { MAX_INPUT_DEPTH } from '../../../src/tools/input-depth.js';
import { buildTestApp } from '../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;

/** JSON text of `{"a":{"a":…{}}}`, `levels` objects deep: text, so no test-side stringify overflows. */
const deepText = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
const deep = (levels: number): unknown => JSON.parse(deepText(levels));

/** A worker's connection as the hub sees it: frames in by `frame`, frames out in `sent`. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  send(text: string) {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close() {
    this.readyState = 3;
    this.emit('close');
  }
  frame(text: string) {
    this.emit('message', Buffer.from(text));
  }
}

async function worker(app: App): Promise<FakeSocket> {
  const ws = new FakeSocket();
  app.core.workers.attach(ws as unknown as WebSocket, 'default');
  return ws;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('iii workers (WebSocket frames)', () => {
  it('an invokefunction whose data nests too deep is an invalid_argument outcome naming data, and the callee never sees it', async () => {
    const app = await buildTestApp();
    const [callee, caller] = [await worker(app), await worker(app)];
    callee.frame('{"type":"registerfunction","id":"echo"}');
    await settle();
    expect(app.core.workers.owner('default', 'echo')).not.toBeNull();

    caller.frame(`{"type":"invokefunction","invocation_id":"i1","function_id":"echo","data":${deepText(100_000)}}`);
    await settle();
    expect(caller.sent.at(-1)).toEqual({
      type: 'invocationresult',
      invocation_id: 'i1',
      function_id: 'echo',
      error: { code: 'invalid_argument', message: `data: must not nest arrays and objects deeper than ${MAX_INPUT_DEPTH} levels` },
    });
    expect(callee.sent.filter((f) => f.type === 'invokefunction')).toEqual([]);

    // at the bound it is passed on as ever
    caller.frame(`{"type":"invokefunction","invocation_id":"i2","function_id":"echo","data":${deepText(MAX_INPUT_DEPTH)}}`);
    await settle();
    expect(callee.sent.filter((f) => f.type === 'invokefunction')).toHaveLength(1);
  });

  it("a worker's answer nested too deep reaches its caller as an invalid_response error", async () => {
    const app = await buildTestApp();
    const [callee, caller] = [await worker(app), await worker(app)];
    callee.frame('{"type":"registerfunction","id":"echo"}');
    await settle();
    caller.frame('{"type":"invokefunction","invocation_id":"i1","function_id":"echo","data":{}}');
    await settle();
    const call = callee.sent.find((f) => f.type === 'invokefunction')!;
    callee.frame(`{"type":"invocationresult","invocation_id":"${String(call.invocation_id)}","result":${deepText(100_000)}}`);
    await settle();
    expect(caller.sent.at(-1)).toMatchObject({
      type: 'invocationresult',
      invocation_id: 'i1',
      error: { code: 'invalid_response', message: expect.stringMatching(/^result: must not nest/) },
    });
  });
});

describe('iii over HTTP', () => {
  it('POST /v1/functions/{id}/invoke with data past the bound is a 400 naming data', async () => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/functions/anything/invoke', `{"data":${deepText(5000)}}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { details: { field: string }[] }).details[0]).toMatchObject({ field: 'data' });
  });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const TOO_DEEP = /must not nest arrays and objects deeper than 900 levels/;
type Err = { message: string; details?: { field?: string; reason: string }[] };

describe('ConductorOne invoke', () => {
  it('json of an object 5,000 deep is a 400 naming json (it was a 500: sealing the invocation overflowed JSON.stringify)', async () => {
    const app = await buildTestApp();
    const created = (await (
      await app.request('POST', '/api/v1/functions', {
        displayName: 'f',
        initialContent: { 'main.ts': b64('export default (i: object) => i;') },
      })
    ).json()) as {
      function: { id: string };
      commit: { id: string };
    };
    const invoke = (json: string) =>
      app.request('POST', `/api/v1/functions/${created.function.id}/invoke`, { commitId: created.commit.id, json: b64(json) });
    const res = await invoke(deepText(5000));
    expect(res.status).toBe(400);
    const err = (await res.json()) as Err;
    expect(err.details).toEqual([expect.objectContaining({ field: 'json', reason: 'too_deep' })]);
    expect(err.message).toMatch(TOO_DEEP);
    expect((await invoke(deepText(MAX_INPUT_DEPTH))).status).toBe(200);
  });
});

describe('AT run', () => {
  it('an input past the bound is InvalidRequest naming input, before the function is looked up', async () => {
    const app = await buildTestApp();
    const res = await app.request(
      'POST',
      '/xrpc/at.functions.run',
      `{"function":"at://did:plc:abcdefghijklmnopqrstuvwx/at.functions.metadata/x","input":${deepText(5000)}}`,
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'InvalidRequest', message: expect.stringMatching(/^input: must not nest/) });
  });
});

describe('MCP tools/call', () => {
  const call = (app: App, name: string, args: string) =>
    app.app.request('/mcp', {
      method: 'POST',
      headers: {
        Authorization: 'Bearer unit-test-key-0123456789abcdef',
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":${args}}}`,
    });
  const rpcError = async (res: Response) =>
    ((await res.json()) as { error: { code: number; message: string; data: { details: { field: string }[] } } }).error;

  it("a saved tool's arguments past the bound are InvalidParams naming the argument", async () => {
    const app = await buildTestApp();
    await app.request('POST', '/v1/tools', { name: 'obj', language: 'python', code: 'def execute(i):\n    return i\n' });
    await app.request('POST', '/v1/tools', {
      name: 'wrapped',
      language: 'python',
      code: 'def execute(i):\n    return i\n',
      input_schema: { type: 'array' },
    });
    const whole = await rpcError(await call(app, 'obj', `{"a":${deepText(5000)}}`));
    expect(whole).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/^arguments: must not nest/),
      data: { details: [{ field: 'arguments' }] },
    });
    const inner = await rpcError(await call(app, 'wrapped', `{"input":[${deepText(5000)}]}`));
    expect(inner).toMatchObject({ code: -32602, data: { details: [{ field: 'arguments.input' }] } });
    expect(app.jobs).toEqual([]);
  });

  it("a built-in's input past the bound is InvalidParams naming input", async () => {
    const app = await buildTestApp();
    const err = await rpcError(await call(app, 'execute_python', `{"code":"x","input":${deepText(5000)}}`));
    expect(err).toMatchObject({ code: -32602, data: { details: [{ field: 'input' }] } });
  });
});

describe('Riza and the core', () => {
  it('POST /v1/execute-function with an input past the bound is a 400 naming input', async () => {
    const app = await buildTestApp();
    const res = await app.request(
      'POST',
      '/v1/execute-function',
      `{"language":"python","code":"def execute(i):\\n    return i","input":${deepText(5000)}}`,
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as Err).details?.[0]).toMatchObject({ field: 'input' });
  });

  it('the executor itself refuses an input past the bound, whatever adapter sent it', async () => {
    const app = await buildTestApp();
    const req = {
      project: 'default',
      mode: 'function' as const,
      target: { kind: 'code' as const, language: 'python' as const, code: 'x' },
      input: deep(5000),
    };
    for (const attempt of [app.core.execute(req, { bytes: 1 }), app.core.execute.check(req)])
      await expect(attempt).rejects.toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'input', reason: 'too_deep' }] });
    expect(app.jobs).toEqual([]);
  });
});
