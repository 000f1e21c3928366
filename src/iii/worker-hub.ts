import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { AppError } from '../errors.js';
import type { Execute } from '../execution/executor.js';
import { INPUT_TOO_DEEP, inputDepthOk } from '../tools/input-depth.js';
import { newId } from '../ids.js';
import type { Store } from '../store/store.js';
import type { Tools } from '../tools/tools.js';
import { createConcurrencyCap, type ConcurrencyCap } from '../execution/concurrency-cap.js';
import type { CallOutcome, HttpFunctions } from './http-functions.js';

/** The prefix under which kiln's saved tools are offered to workers: `kiln::<tool name or id>`. */
export const TOOL_PREFIX = 'kiln::';
const NAMESPACE = 'default';
const FUNCTION_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const MAX_FUNCTIONS = 1000;

interface Worker {
  id: string;
  project: string;
  ws: WebSocket;
  /** Ids whose registration waits on the store's lookup: they count against the cap already. */
  reserving: Set<string>;
  /** Function ids this worker registered (and owns). */
  functions: Set<string>;
}

interface Pending {
  callee: string; // worker id
  settle: (outcome: CallOutcome) => void;
}

type Frame = { type?: unknown; [key: string]: unknown };

/** A refusal as an iii error a worker reads: `busy` for kiln's caps, `invalid_argument` for bad data. */
const asOutcomeError = (err: unknown) =>
  err instanceof AppError && err.code === 'BUSY'
    ? { code: 'busy', message: err.message }
    : { code: 'invalid_argument', message: err instanceof AppError ? err.message : 'the call could not be made' };

/** The size of a frame as ws hands it over (a Buffer, or fragments). */
const rawBytes = (raw: Buffer | ArrayBuffer | Buffer[]) =>
  Array.isArray(raw) ? raw.reduce((n, b) => n + b.length, 0) : raw instanceof ArrayBuffer ? raw.byteLength : raw.length;

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
  const workers = new Map<string, Worker>();
  /** project → function id → owning worker id */
  const owners = new Map<string, Map<string, string>>();
  const pending = new Map<string, Pending>();
  const ownersOf = (project: string) => owners.get(project) ?? owners.set(project, new Map()).get(project)!;
  const send = (w: Worker, frame: object) => w.ws.readyState === w.ws.OPEN && w.ws.send(JSON.stringify(frame));

  async function record(
    id: string,
    project: string,
    functionId: string,
    data: unknown,
    outcome: CallOutcome,
    started: number,
    workerId: string | null,
  ) {
    await deps.store
      .recordExecution({
        id,
        project,
        kind: 'worker_function',
        via: 'iii',
        language: 'iii',
        exitCode: 'error' in outcome ? 1 : 0,
        durationMs: Math.round(performance.now() - started),
        startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
        toolId: null,
        revisionId: null,
        request: { function_id: functionId, data: data ?? null, ...(workerId ? { worker_id: workerId } : {}) },
        result: outcome,
      })
      .catch((err: unknown) => deps.log.error({ err }, 'could not record an iii invocation'));
  }

  /**
   * Sends an invocation to the worker owning `functionId`; resolves with its answer (or why there
   * was none). The callee gets an id of kiln's making (the engine forwards the caller's): ids a
   * worker chooses never key anything here, so one worker cannot answer for another's call.
   */
  function toWorker(owner: Worker, functionId: string, data: unknown): Promise<CallOutcome> {
    const invocationId = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => settle({ error: { code: 'timeout', message: `no answer within ${deps.timeoutMs / 1000} s` } }),
        deps.timeoutMs,
      );
      const settle = (outcome: CallOutcome) => {
        clearTimeout(timer);
        pending.delete(invocationId);
        resolve(outcome);
      };
      pending.set(invocationId, { callee: owner.id, settle });
      send(owner, { type: 'invokefunction', invocation_id: invocationId, function_id: functionId, data: data ?? null });
    });
  }

  /** A saved tool run for a worker: its return value, or why it failed, as iii errors read. */
  async function runTool(project: string, name: string, data: unknown): Promise<CallOutcome> {
    const tool = await deps.tools.find(project, name);
    if (!tool)
      return { error: { code: 'function_not_found', message: `Function ${TOOL_PREFIX}${name} not found in namespace ${NAMESPACE}.` } };
    try {
      const e = await deps.execute(
        { project, via: 'iii', mode: 'function', target: { kind: 'tool', toolId: tool.id }, input: data ?? null },
        { bytes: JSON.stringify(data ?? null).length },
      );
      const r = e.result;
      if (r.stopReason === 'exited' && r.exitCode === 0 && r.outputStatus === 'valid')
        return { result: JSON.parse(r.outputJson ?? 'null') as unknown };
      return {
        error: {
          code: 'invocation_failed',
          message: (r.stderr.trim().split('\n').slice(-5).join('\n') || `stopped: ${r.stopReason}`).slice(-2000),
        },
      };
    } catch (err) {
      return {
        error: {
          code: err instanceof AppError ? err.code.toLowerCase() : 'internal',
          message: err instanceof AppError ? err.message : 'internal error',
        },
      };
    }
  }

  /** Any invocation in the project, whoever asks: a worker's function, a saved tool, an HTTP function. */
  async function invoke(
    project: string,
    functionId: string,
    data: unknown,
    callerId: string | null,
  ): Promise<CallOutcome & { executionId?: string }> {
    const started = performance.now();
    const ownerId = owners.get(project)?.get(functionId);
    let outcome: CallOutcome;
    if (ownerId) {
      // as the engine does: the callee learns who called
      const payload =
        callerId && data && typeof data === 'object' && !Array.isArray(data) ? { ...data, _caller_worker_id: callerId } : data;
      // a call kiln makes and waits on: within the project's share of kiln's own outbound calls
      outcome = await deps.outbound.run(project, () => toWorker(workers.get(ownerId)!, functionId, payload));
      const executionId = newId('exec');
      await record(executionId, project, functionId, data, outcome, started, ownerId);
      return { ...outcome, executionId };
    }
    if (functionId.startsWith(TOOL_PREFIX)) return runTool(project, functionId.slice(TOOL_PREFIX.length), data); // logged by the executor
    const http = await deps.store.functions.get(project, functionId);
    if (http?.invocation) {
      const { id, ...called } = await deps.httpFunctions
        .invoke(project, http, data)
        .catch((err: unknown) => ({ id: undefined, error: asOutcomeError(err) }));
      return { ...called, ...(id ? { executionId: id } : {}) };
    }
    return { error: { code: 'function_not_found', message: `Function ${functionId} not found in namespace ${NAMESPACE}.` } };
  }

  function onFrame(w: Worker, frame: Frame, bytes: number) {
    switch (frame.type) {
      case 'registerfunction': {
        const id = typeof frame.id === 'string' ? frame.id : '';
        if (w.reserving.has(id) || (w.functions.has(id) && ownersOf(w.project).get(id) === w.id)) return; // the same worker again: idempotent
        // registrations still waiting on the store count too: a burst cannot pass the cap before any lookup ends
        if (!FUNCTION_ID.test(id) || id.startsWith(TOOL_PREFIX) || w.functions.size + w.reserving.size >= MAX_FUNCTIONS)
          return send(w, {
            type: 'registrationrejected',
            code: 'INVALID_FUNCTION',
            namespace: NAMESPACE,
            function_id: id.slice(0, 200),
            message: `an id is 1-200 of A-Z a-z 0-9 _ . : -, not under ${TOOL_PREFIX}; at most ${MAX_FUNCTIONS} per worker`,
          });
        const owner = ownersOf(w.project).get(id);
        if (owner && owner !== w.id)
          return send(w, {
            type: 'registrationrejected',
            code: 'FUNCTION_NAMESPACE_CONFLICT',
            namespace: NAMESPACE,
            function_id: id,
            owner_worker_id: owner,
          });
        w.reserving.add(id);
        void deps.store.functions.get(w.project, id).then(
          (registered) => {
            w.reserving.delete(id);
            if (registered)
              return send(w, {
                type: 'registrationrejected',
                code: 'FUNCTION_NAMESPACE_CONFLICT',
                namespace: NAMESPACE,
                function_id: id,
                owner_worker_id: 'kiln',
              });
            // checked again after the lookup: another worker may have taken it meanwhile, or this one left
            const now = ownersOf(w.project).get(id);
            if (now && now !== w.id)
              return send(w, {
                type: 'registrationrejected',
                code: 'FUNCTION_NAMESPACE_CONFLICT',
                namespace: NAMESPACE,
                function_id: id,
                owner_worker_id: now,
              });
            if (!workers.has(w.id)) return;
            ownersOf(w.project).set(id, w.id);
            w.functions.add(id);
          },
          (err: unknown) => {
            w.reserving.delete(id);
            deps.log.warn({ err: String(err), worker: w.id }, 'iii registration: the store did not answer');
            send(w, {
              type: 'registrationrejected',
              code: 'INTERNAL',
              namespace: NAMESPACE,
              function_id: id,
              message: 'kiln could not check the id now; register it again',
            });
          },
        );
        return;
      }
      case 'unregisterfunction':
        if (typeof frame.id === 'string' && ownersOf(w.project).get(frame.id) === w.id) {
          ownersOf(w.project).delete(frame.id);
          w.functions.delete(frame.id);
        }
        return;
      case 'invocationresult': {
        const p = typeof frame.invocation_id === 'string' ? pending.get(frame.invocation_id) : undefined;
        // kiln holds, answers and logs a result: past the result limit the caller hears why instead
        if (p && p.callee === w.id && bytes > deps.maxResultBytes)
          return p.settle({ error: { code: 'invalid_response', message: `the result is larger than ${deps.maxResultBytes} bytes` } });
        // an answer nested too deep would overflow JSON.stringify on its way to the caller: it hears why instead
        if (p && p.callee === w.id && !inputDepthOk(frame.error ?? frame.result))
          p.settle({ error: { code: 'invalid_response', message: `${frame.error ? 'error' : 'result'}: ${INPUT_TOO_DEEP}` } });
        else if (p && p.callee === w.id)
          p.settle(frame.error ? { error: frame.error as { code: string; message: string } } : { result: frame.result ?? null });
        return;
      }
      case 'invokefunction': {
        const functionId = typeof frame.function_id === 'string' ? frame.function_id : '';
        if (functionId === 'engine::workers::register') return; // the worker's metadata: nothing to keep
        const invocationId = typeof frame.invocation_id === 'string' ? frame.invocation_id : undefined;
        // data nested past what every surface takes is refused as the HTTP invoke refuses it: passed
        // on, it overflowed JSON.stringify in a promise nobody awaits, and that ended the process
        if (!inputDepthOk(frame.data)) {
          if (invocationId)
            send(w, {
              type: 'invocationresult',
              invocation_id: invocationId,
              function_id: functionId,
              error: { code: 'invalid_argument', message: `data: ${INPUT_TOO_DEEP}` },
            });
          return;
        }
        void invoke(w.project, functionId, frame.data ?? null, w.id)
          .catch((err: unknown): CallOutcome => ({ error: asOutcomeError(err) }))
          .then(({ executionId: _e, ...outcome }: CallOutcome & { executionId?: string }) => {
            if (invocationId) send(w, { type: 'invocationresult', invocation_id: invocationId, function_id: functionId, ...outcome });
          });
        return;
      }
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
    attach(ws: WebSocket, project: string) {
      const w: Worker = { id: randomUUID(), project, ws, functions: new Set(), reserving: new Set() };
      workers.set(w.id, w);
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
        workers.delete(w.id);
        for (const id of w.functions) if (ownersOf(project).get(id) === w.id) ownersOf(project).delete(id);
        for (const p of pending.values())
          if (p.callee === w.id) p.settle({ error: { code: 'invocation_stopped', message: 'Invocation stopped' } });
      });
      ws.on('error', (err) => deps.log.debug({ err: String(err), worker: w.id }, 'iii worker connection error'));
    },
    owner: (project: string, id: string) => owners.get(project)?.get(id) ?? null,
    list: (project: string) =>
      [...(owners.get(project) ?? new Map<string, string>()).entries()].map(([id, worker]) => ({ id, worker_id: worker })),
    invoke: (project: string, id: string, data: unknown) => invoke(project, id, data, null),
    close() {
      for (const w of workers.values()) w.ws.close(1001, 'kiln is stopping');
    },
  };
}

export type WorkerHub = ReturnType<typeof createWorkerHub>;
