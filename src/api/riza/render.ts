import { loggedResult, type Execution } from '../../execution/executor.js';
import type { RunResult } from '../../sandbox/job.js';
import type { ExecutionStatus } from '../../invocations/execution-status.js';
import type { ExecutionRecord } from '../../store/store.js';

/** Riza's `execution` object (kiln adds why it stopped and whether a stream was cut). */
export function executionBody(id: string, r: RunResult, children?: Execution['children']) {
  const { output_status: _status, output_json: _output, ...fields } = loggedResult(r);
  return { id, ...fields, ...(children ? { children } : {}) };
}

/** The execute-function (and tool execute) answer, as JSON text: the return value is spliced in as
 * the code produced it, with no re-encoding, so big integers stay intact. */
export function functionAnswer(e: Execution): string {
  const r = e.result;
  return `{"output":${r.outputJson ?? 'null'},"output_status":"${r.outputStatus}","execution":${JSON.stringify(executionBody(e.id, r, e.children))}}`;
}

/** The stored result (see loggedResult) back in Riza's `details.response` shape for its kind. */
function responseOf(record: ExecutionRecord) {
  // an iii HTTP function's call: what it answered, as its invoke did
  if (record.kind === 'http_function' || record.kind === 'worker_function' || record.kind === 'session') return record.result;
  const r = record.result as Record<string, unknown> & { output_json: string | null; output_status: string };
  const { output_json, output_status, ...fields } = r;
  const execution = { id: record.id, ...fields };
  if (record.kind === 'script') return execution;
  return { output: output_json === null ? null : JSON.parse(output_json), output_status, execution };
}

/** A row of the executions log as Riza's Execution object. */
export function executionRecordBody(record: ExecutionRecord) {
  return {
    id: record.id,
    language: record.language,
    exit_code: record.exitCode,
    duration: record.durationMs,
    started_at: record.startedAt,
    // kiln: an execution in the log has ended with its answer (async ones say more: executionView)
    status: 'finished',
    details: {
      type: record.kind,
      via: record.via,
      ...(record.toolId ? { tool_id: record.toolId } : {}),
      ...(record.sessionId ? { session_id: record.sessionId } : {}),
      ...(record.parentId ? { parent_id: record.parentId } : {}),
      ...(record.key ? { key: record.key } : {}),
      request: record.request,
      response: responseOf(record),
    },
  };
}

/**
 * GET /v1/executions/{id}: the logged execution with its status (`finished` for every synchronous
 * one), or, for an async invocation that has not finished, where it stands; with its webhook's
 * delivery state when it has a callback. The webhook's body is this too.
 */
export function executionView({ id, record, invocation }: ExecutionStatus): Record<string, unknown> {
  const view: Record<string, unknown> = record
    ? { ...executionRecordBody(record), status: invocation?.status ?? 'finished' }
    : { id, status: invocation!.status, details: { via: invocation!.via } };
  if (invocation) {
    if (invocation.reason) view.reason = invocation.reason;
    view.created_at = invocation.createdAt;
    if (invocation.startedAt) view.started_at ??= invocation.startedAt;
    if (invocation.endedAt) view.ended_at = invocation.endedAt;
    if (invocation.callbackUrl) {
      const w = invocation.webhook;
      view.webhook = {
        url: invocation.callbackUrl,
        status: w?.status ?? 'waiting',
        attempts: w?.attempts ?? 0,
        ...(w?.lastError ? { last_error: w.lastError } : {}),
        ...(w?.nextAt && w.status === 'pending' ? { next_attempt_at: w.nextAt } : {}),
      };
    }
  }
  return view;
}
