// The iii worker hub on a fake clock, with fake sockets and a fake store: registration (first come,
// first served), calls to a worker and their timeout, answers only from the callee, result limits,
// and a worker that leaves (its functions freed, its calls in flight failed). The real SDK over a
// real socket is test/integration/iii-workers.test.ts.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { createConcurrencyCap } from '../../../src/execution/concurrency-cap.js';
import type { Execute } from '../../../src/execution/executor.js';
import type { HttpFunctions } from '../../../src/iii/http-functions.js';
import { createWorkerHub } from '../../../src/iii/worker-hub.js';
import type { Store } from '../../../src/store/store.js';

type Frame = Record<string, any>;

/** A worker's socket as the hub sees it: what kiln sent it, and a way to speak and to leave. */
function fakeSocket() {
  const emitter = new EventEmitter();
  const socket = Object.assign(emitter, {
    OPEN: 1,
    readyState: 1,
    sent: [] as Frame[],
    send(data: string) {
      socket.sent.push(JSON.parse(data) as Frame);
    },
    close() {
      socket.readyState = 3;
      emitter.emit('close');
    },
    /** The worker sends a frame. */
    say(frame: Frame) {
      emitter.emit('message', Buffer.from(JSON.stringify(frame)));
    },
    last(type: string): Frame | undefined {
      return socket.sent.filter((f) => f.type === type).at(-1);
    },
  });
  return socket;
}
type FakeSocket = ReturnType<typeof fakeSocket>;

const TIMEOUT_MS = 10_000;

describe('iii worker hub (fake clock, fake sockets)', () => {
  let lookups: { id: string; resolve: (registered: object | null) => void }[];
  let recorded: any[];
  let hub: ReturnType<typeof createWorkerHub>;
  /** Registrations look the id up in the store: held until `lookups` are answered, or answered at once. */
  let holdLookups: boolean;

  beforeEach(() => {
    vi.useFakeTimers();
    lookups = [];
    recorded = [];
    holdLookups = false;
    const store = {
      functions: {
        get: (_project: string, id: string) =>
          holdLookups ? new Promise((resolve) => lookups.push({ id, resolve })) : Promise.resolve(id === 'http.fn' ? {} : null),
      },
      executions: { record: async (record: unknown) => void recorded.push(record) },
    } as unknown as Store;
    hub = createWorkerHub({
      store,
      tools: { find: async () => null },
      execute: vi.fn() as unknown as Execute,
      httpFunctions: {} as HttpFunctions,
      log: pino({ level: 'silent' }),
      timeoutMs: TIMEOUT_MS,
      outbound: createConcurrencyCap(10, 'outbound calls per project'),
      maxWorkers: 5,
      maxResultBytes: 1000,
    });
  });
  afterEach(() => {
    hub.close();
    vi.useRealTimers();
  });

  const connect = (project = 'proj_a'): FakeSocket & { id: string } => {
    const ws = fakeSocket();
    hub.attach(ws as unknown as WebSocket, project);
    return Object.assign(ws, { id: ws.last('workerregistered')?.worker_id as string });
  };
  /** Registers `id` and lets the store lookup answer. */
  const register = async (ws: FakeSocket, id: string) => {
    ws.say({ type: 'registerfunction', id });
    await vi.advanceTimersByTimeAsync(0);
  };

  it('tells a worker its id; first come, first served for a function id; the same worker again changes nothing', async () => {
    const a = connect();
    const b = connect();
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.id).not.toBe(a.id);
    await register(a, 'math.add');
    expect(hub.owner('proj_a', 'math.add')).toBe(a.id);
    await register(b, 'math.add');
    expect(b.last('registrationrejected')).toEqual({
      type: 'registrationrejected',
      code: 'FUNCTION_NAMESPACE_CONFLICT',
      namespace: 'default',
      function_id: 'math.add',
      owner_worker_id: a.id,
    });
    const before = a.sent.length;
    await register(a, 'math.add');
    expect(a.sent).toHaveLength(before);
    // an HTTP function of the store, a kiln:: id, and another project's same id
    await register(b, 'http.fn');
    expect(b.last('registrationrejected')).toMatchObject({ code: 'FUNCTION_NAMESPACE_CONFLICT', owner_worker_id: 'kiln' });
    await register(b, 'kiln::mine');
    expect(b.last('registrationrejected')).toMatchObject({ code: 'INVALID_FUNCTION', function_id: 'kiln::mine' });
    const other = connect('proj_b');
    await register(other, 'math.add');
    expect(hub.owner('proj_b', 'math.add')).toBe(other.id);
    expect(hub.list('proj_a')).toEqual([{ id: 'math.add', worker_id: a.id }]);
  });

  it('a registration checked against the store is dropped if its worker left meanwhile, and taken by nobody', async () => {
    holdLookups = true;
    const a = connect();
    a.say({ type: 'registerfunction', id: 'slow.fn' });
    expect(lookups).toHaveLength(1);
    a.close();
    lookups[0]!.resolve(null);
    await vi.advanceTimersByTimeAsync(0);
    expect(hub.owner('proj_a', 'slow.fn')).toBeNull();
  });

  it('sends a call to the owning worker under an id of its own, answers with the result, and logs it', async () => {
    const a = connect();
    await register(a, 'math.add');
    const call = hub.invoke('proj_a', 'math.add', { x: 1 });
    await vi.advanceTimersByTimeAsync(0);
    const sent = a.last('invokefunction')!;
    expect(sent).toMatchObject({ function_id: 'math.add', data: { x: 1 } });
    expect(sent.invocation_id).toMatch(/^[0-9a-f-]{36}$/);
    a.say({ type: 'invocationresult', invocation_id: sent.invocation_id, result: { sum: 2 } });
    const outcome = await call;
    expect(outcome).toMatchObject({ result: { sum: 2 } });
    expect(outcome.executionId).toMatch(/^exec_/);
    expect(recorded).toEqual([
      expect.objectContaining({
        id: outcome.executionId,
        kind: 'worker_function',
        via: 'iii',
        exitCode: 0,
        request: { function_id: 'math.add', data: { x: 1 }, worker_id: a.id },
      }),
    ]);
  });

  it('a call nobody answers ends with timeout after timeoutMs, not before', async () => {
    const a = connect();
    await register(a, 'slow');
    let outcome: unknown;
    void hub.invoke('proj_a', 'slow', null).then((o) => (outcome = o));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toMatchObject({ error: { code: 'timeout', message: 'no answer within 10 s' } });
    // a late answer settles nothing
    a.say({ type: 'invocationresult', invocation_id: a.last('invokefunction')!.invocation_id, result: 1 });
    expect(recorded).toHaveLength(1);
  });

  it('only the callee can answer a call: another worker that knows its id is ignored', async () => {
    const a = connect();
    const b = connect();
    await register(a, 'math.add');
    let outcome: any;
    void hub.invoke('proj_a', 'math.add', {}).then((o) => (outcome = o));
    await vi.advanceTimersByTimeAsync(0);
    const invocationId = a.last('invokefunction')!.invocation_id;
    b.say({ type: 'invocationresult', invocation_id: invocationId, result: 'forged' });
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toBeUndefined();
    a.say({ type: 'invocationresult', invocation_id: invocationId, result: 'real' });
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toMatchObject({ result: 'real' });
  });

  it('a result past maxResultBytes reaches the caller as invalid_response', async () => {
    const a = connect();
    await register(a, 'big');
    const call = hub.invoke('proj_a', 'big', {});
    await vi.advanceTimersByTimeAsync(0);
    a.say({ type: 'invocationresult', invocation_id: a.last('invokefunction')!.invocation_id, result: 'x'.repeat(2000) });
    await expect(call).resolves.toMatchObject({ error: { code: 'invalid_response', message: 'the result is larger than 1000 bytes' } });
  });

  it('a worker that disconnects fails its calls in flight with invocation_stopped, and its functions are gone', async () => {
    const a = connect();
    await register(a, 'math.add');
    await register(a, 'math.mul');
    const first = hub.invoke('proj_a', 'math.add', {});
    const second = hub.invoke('proj_a', 'math.mul', {});
    await vi.advanceTimersByTimeAsync(0);
    a.close();
    const stopped = { error: { code: 'invocation_stopped', message: 'Invocation stopped' } };
    await expect(first).resolves.toMatchObject(stopped);
    await expect(second).resolves.toMatchObject(stopped);
    expect(hub.list('proj_a')).toEqual([]);
    await expect(hub.invoke('proj_a', 'math.add', {})).resolves.toEqual({
      error: { code: 'function_not_found', message: 'Function math.add not found in namespace default.' },
    });
    // its id is free for the next worker
    const b = connect();
    await register(b, 'math.add');
    expect(hub.owner('proj_a', 'math.add')).toBe(b.id);
    // and no timer of the stopped calls fires later
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(recorded.map((r) => r.result)).toEqual([stopped, stopped]);
  });

  it("a worker calls another worker's function through kiln: the callee learns the caller, the caller gets its answer", async () => {
    const caller = connect();
    const callee = connect();
    await register(callee, 'math.add');
    caller.say({ type: 'invokefunction', invocation_id: 'callers-own-id', function_id: 'math.add', data: { x: 1 } });
    await vi.advanceTimersByTimeAsync(0);
    const sent = callee.last('invokefunction')!;
    expect(sent.data).toEqual({ x: 1, _caller_worker_id: caller.id });
    expect(sent.invocation_id).not.toBe('callers-own-id');
    callee.say({ type: 'invocationresult', invocation_id: sent.invocation_id, result: 2 });
    await vi.advanceTimersByTimeAsync(0);
    expect(caller.last('invocationresult')).toEqual({
      type: 'invocationresult',
      invocation_id: 'callers-own-id',
      function_id: 'math.add',
      result: 2,
    });
  });
});
