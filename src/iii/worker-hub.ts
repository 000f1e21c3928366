import type { KeyOfRequest } from '../access/scopes.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { createConcurrencyCap, type ConcurrencyCap } from '../execution/concurrency-cap.js';
import type { Execute } from '../execution/executor.js';
import type { Store } from '../store/store.js';
import { INPUT_TOO_DEEP, inputDepthOk } from '../tools/input-depth.js';
import type { Tools } from '../tools/tools.js';
import type { CallOutcome, HttpFunctions } from './http-functions.js';
import { createInvoke } from './invoke.js';
import { asOutcomeError, type Frame, rawBytes, send, type Worker } from './worker.js';
import { createWorkerCalls } from './worker-calls.js';
import { createWorkerRegistry } from './worker-registry.js';

export { TOOL_PREFIX } from './worker.js';

/**
 * The iii engine's worker side, for workers built with iii-sdk: each connection is a worker of
 * the project its key belongs to. A worker registers functions (first come, first served: another
 * worker's registration of the same id is rejected with FUNCTION_NAMESPACE_CONFLICT; the same
 * worker again is idempotent), runs them when invoked, and invokes others: another worker's, a
 * registered HTTP function, or a saved tool as `kiln::<name>`. A worker that leaves loses its
 * functions, and what it was running ends with `invocation_stopped`. Every invocation is a row of
 * the executions log (via `iii`).
 */
export function createWorkerHub(deps: {
  store: Store;
  tools: Pick<Tools, 'find'>;
  execute: Execute;
  httpFunctions: HttpFunctions;
  log: Logger;
  timeoutMs: number;
  /** kiln's own calls for one project at once (shared with HTTP functions): a worker invocation holds one. */
  outbound: ConcurrencyCap;
  /** Workers one project may have connected at once. */
  maxWorkers: number;
  /** The largest result frame kiln takes from a worker (it is buffered, answered and logged). */
  maxResultBytes: number;
}) {
  const connections = createConcurrencyCap(deps.maxWorkers, 'connected iii workers per project');
  const workers = new Set<Worker>();
  const registry = createWorkerRegistry(deps);
  const calls = createWorkerCalls(deps);
  const invoke = createInvoke({ ...deps, ownerOf: registry.ownerOf, call: calls.call });

  /** A worker invokes a function: it gets the answer under the invocation id it chose. */
  function onInvoke(w: Worker, frame: Frame) {
    const functionId = typeof frame.function_id === 'string' ? frame.function_id : '';
    if (functionId === 'engine::workers::register') return; // the worker's metadata: nothing to keep
    const invocationId = typeof frame.invocation_id === 'string' ? frame.invocation_id : undefined;
    const answer = (outcome: CallOutcome) => {
      if (invocationId) send(w, { type: 'invocationresult', invocation_id: invocationId, function_id: functionId, ...outcome });
    };
    // data nested past what every surface takes is refused as the HTTP invoke refuses it: passed
    // on, it overflowed JSON.stringify in a promise nobody awaits, and that ended the process
    if (!inputDepthOk(frame.data)) return answer({ error: { code: 'invalid_argument', message: `data: ${INPUT_TOO_DEEP}` } });
    void invoke(w.project, functionId, frame.data ?? null, w.id, w.key)
      .catch((err: unknown): CallOutcome => ({ error: asOutcomeError(err) }))
      .then(({ executionId: _e, ...outcome }: CallOutcome & { executionId?: string }) => answer(outcome));
  }

  function onFrame(w: Worker, frame: Frame, bytes: number) {
    switch (frame.type) {
      case 'registerfunction':
        return registry.register(w, typeof frame.id === 'string' ? frame.id : '');
      case 'unregisterfunction':
        if (typeof frame.id === 'string') registry.unregister(w, frame.id);
        return;
      case 'invocationresult':
        return calls.answer(w, frame, bytes);
      case 'invokefunction':
        return onInvoke(w, frame);
      case 'ping':
        return send(w, { type: 'pong' });
      default:
        return; // triggers, trigger types, reattach: accepted and not acted on
    }
  }

  return {
    /**
     * A place for one more worker of `project`, taken before its upgrade is answered (null: the
     * project has its most): `attach` or the socket's close gives it back.
     */
    reserve: (project: string) => connections.tryEnter(project),
    /** A worker connected with a key of `project` (its place reserved): it is told its id, then speaks. */
    attach(ws: WebSocket, project: string, key: KeyOfRequest | null = null) {
      const w: Worker = { id: randomUUID(), project, ws, functions: new Set(), reserving: new Set(), connected: true, key };
      workers.add(w);
      send(w, { type: 'workerregistered', worker_id: w.id, reattach_token: randomUUID() });
      ws.on('message', (raw) => {
        let frame: Frame;
        try {
          frame = JSON.parse(String(raw)) as Frame;
        } catch {
          return; // not a frame of the protocol: the engine ignores it too
        }
        if (frame && typeof frame === 'object') onFrame(w, frame, rawBytes(raw));
      });
      ws.on('close', () => {
        w.connected = false;
        workers.delete(w);
        registry.forget(w);
        calls.stopAll(w);
      });
      ws.on('error', (err) => deps.log.debug({ err: String(err), worker: w.id }, 'iii worker connection error'));
    },
    owner: (project: string, id: string) => registry.ownerOf(project, id)?.id ?? null,
    list: registry.list,
    invoke: (project: string, id: string, data: unknown, key: KeyOfRequest | null = null) => invoke(project, id, data, null, key),
    close() {
      for (const w of workers) w.ws.close(1001, 'kiln is stopping');
    },
  };
}

export type WorkerHub = ReturnType<typeof createWorkerHub>;
