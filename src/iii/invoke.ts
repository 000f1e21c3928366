import type { KeyOfRequest } from '../access/scopes.js';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { ConcurrencyCap } from '../execution/concurrency-cap.js';
import type { Execute } from '../execution/executor.js';
import type { Store } from '../store/store.js';
import { logFunctionCall } from './call-log.js';
import type { Tools } from '../tools/tools.js';
import type { CallOutcome, HttpFunctions } from './http-functions.js';
import { asOutcomeError, NAMESPACE, TOOL_PREFIX, type Worker } from './worker.js';

const notFound = (functionId: string): CallOutcome => ({
  error: { code: 'function_not_found', message: `Function ${functionId} not found in namespace ${NAMESPACE}.` },
});

/**
 * Any invocation in a project, whoever asks (a worker, or the HTTP invoke): a worker's function, a
 * saved tool as `kiln::<name>`, or a registered HTTP function, in that order. Every one is a row of
 * the executions log: a worker's call here, the others by the executor and the HTTP functions.
 */
export function createInvoke(deps: {
  store: Store;
  tools: Pick<Tools, 'find'>;
  execute: Execute;
  httpFunctions: HttpFunctions;
  log: Logger;
  /** kiln's own calls for one project at once (shared with HTTP functions): a worker invocation holds one. */
  outbound: ConcurrencyCap;
  ownerOf: (project: string, functionId: string) => Worker | undefined;
  call: (owner: Worker, functionId: string, data: unknown) => Promise<CallOutcome>;
}) {
  const record = (
    project: string,
    functionId: string,
    data: unknown,
    outcome: CallOutcome,
    started: number,
    workerId: string,
    key: KeyOfRequest | null,
  ) => logFunctionCall(deps, { project, kind: 'worker_function', functionId, data, outcome, started, workerId, key });

  /** A saved tool run for a worker: its return value, or why it failed, as iii errors read. */
  async function runTool(project: string, name: string, data: unknown, key: KeyOfRequest | null): Promise<CallOutcome> {
    const tool = await deps.tools.find(project, name);
    if (!tool) return notFound(`${TOOL_PREFIX}${name}`);
    try {
      const e = await deps.execute(
        { project, via: 'iii', mode: 'function', target: { kind: 'tool', toolId: tool.id }, input: data ?? null, key },
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

  return async function invoke(
    project: string,
    functionId: string,
    data: unknown,
    callerId: string | null,
    /** The key that asked: over HTTP, or the calling worker's. */
    key: KeyOfRequest | null = null,
  ): Promise<CallOutcome & { executionId?: string }> {
    const started = performance.now();
    const owner = deps.ownerOf(project, functionId);
    if (owner) {
      // as the engine does: the callee learns who called
      const payload =
        callerId && data && typeof data === 'object' && !Array.isArray(data) ? { ...data, _caller_worker_id: callerId } : data;
      // a call kiln makes and waits on: within the project's share of kiln's own outbound calls
      const outcome = await deps.outbound.run(project, () => deps.call(owner, functionId, payload));
      const executionId = await record(project, functionId, data, outcome, started, owner.id, key);
      return { ...outcome, executionId };
    }
    if (functionId.startsWith(TOOL_PREFIX)) return runTool(project, functionId.slice(TOOL_PREFIX.length), data, key); // logged by the executor
    const http = await deps.store.functions.get(project, functionId);
    if (http?.invocation) {
      const { id, ...called } = await deps.httpFunctions
        .invoke(project, http, data, key)
        .catch((err: unknown) => ({ id: undefined, error: asOutcomeError(err) }));
      return { ...called, ...(id ? { executionId: id } : {}) };
    }
    return notFound(functionId);
  };
}
