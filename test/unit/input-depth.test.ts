// Every surface bounds its input's depth (MAX_INPUT_DEPTH, src/execution/input-depth.ts) and names
// its own field: past a few thousand levels kiln's own JSON.stringify overflowed (a 500, or for an
// iii worker's frame an unhandled rejection that ended the process).
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { MAX_INPUT_DEPTH } from '../../src/execution/input-depth.js';
import { buildTestApp } from './app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;

/** JSON text of `{"a":{"a":…{}}}`, `levels` objects deep: text, so no test-side stringify overflows. */
const deepText = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);
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
      type: 'invocationresult', invocation_id: 'i1', function_id: 'echo',
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
    expect(caller.sent.at(-1)).toMatchObject({ type: 'invocationresult', invocation_id: 'i1', error: { code: 'invalid_response', message: expect.stringMatching(/^result: must not nest/) } });
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

