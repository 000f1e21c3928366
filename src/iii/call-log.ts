import type { KeyOfRequest } from '../access/scopes.js';
import type { Logger } from 'pino';
import { newId } from '../ids.js';
import type { Store } from '../store/store.js';

/** What an iii function's call gave: its result, or why it has none. */
export type CallOutcome = { result: unknown } | { error: { code: string; message: string } };

/** One call of an iii function that kiln did not run in a box: an HTTP function's, or a worker's. */
export interface FunctionCall {
  project: string;
  kind: 'http_function' | 'worker_function';
  functionId: string;
  data: unknown;
  outcome: CallOutcome;
  /** performance.now() when the call began. */
  started: number;
  /** The worker that answered, for a worker's call. */
  workerId?: string;
  /** The key that asked (over HTTP, or the calling worker's). */
  key?: KeyOfRequest | null;
}

/**
 * Logs an iii call in the executions log (via `iii`; runs in boxes are logged by the executor) and
 * gives its execution id. A log that fails is said in kiln's log, and the caller gets its answer
 * all the same, as the executor does.
 */
export async function logFunctionCall(deps: { store: Pick<Store, 'executions'>; log: Logger }, call: FunctionCall): Promise<string> {
  const id = newId('exec');
  const durationMs = Math.round(performance.now() - call.started);
  await deps.store.executions
    .record({
      id,
      project: call.project,
      kind: call.kind,
      via: 'iii',
      language: call.kind === 'http_function' ? 'http' : 'iii',
      exitCode: 'error' in call.outcome ? 1 : 0,
      durationMs,
      startedAt: new Date(Date.now() - (performance.now() - call.started)).toISOString(),
      toolId: null,
      revisionId: null,
      key: call.key ? { id: call.key.id, name: call.key.name } : null,
      request: { function_id: call.functionId, data: call.data ?? null, ...(call.workerId ? { worker_id: call.workerId } : {}) },
      result: call.outcome,
    })
    .catch((err: unknown) => deps.log.error({ err, execution: id }, 'could not record an iii function call'));
  return id;
}
