import type { C1InvocationStatus } from '../../c1/invocation-reads.js';
import type { C1FunctionRecord } from '../../store/c1/records.js';
import type { Tool, ToolRevision } from '../../store/store.js';

// C1's wire (protojson): lowerCamelCase, enums as strings, bytes as base64, and unset fields left
// out rather than null (newer SDKs refuse a null message or map).

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

export function functionBody(fn: C1FunctionRecord, tool: Pick<Tool, 'id' | 'name' | 'description' | 'revisionId'>) {
  return {
    id: tool.id,
    displayName: tool.name,
    description: tool.description,
    functionType: fn.functionType,
    head: tool.revisionId,
    ...(fn.publishedCommitId ? { publishedCommitId: fn.publishedCommitId } : {}),
    isDraft: !fn.publishedCommitId,
    createdAt: fn.createdAt,
    updatedAt: fn.updatedAt,
  };
}

export const commitBody = (functionId: string, revision: Pick<ToolRevision, 'id' | 'createdAt'>, message: string) => ({
  id: revision.id,
  functionId,
  message,
  createdAt: revision.createdAt,
});

export const filesBody = (files: Record<string, string>) =>
  Object.fromEntries(Object.entries(files).map(([name, text]) => [name, b64(text)]));

const STATUS = {
  queued: 'FUNCTION_INVOCATION_STATUS_PENDING',
  running: 'FUNCTION_INVOCATION_STATUS_RUNNING',
  cancelled: 'FUNCTION_INVOCATION_STATUS_CANCELLED',
  interrupted: 'FUNCTION_INVOCATION_STATUS_ERROR',
  failed: 'FUNCTION_INVOCATION_STATUS_ERROR',
} as const;

/** The end of stderr, where an exception's message is: what C1's `error` carries. */
function errorText(stderr: string): string {
  const lines = stderr
    .trimEnd()
    .split('\n')
    .filter((l) => !l.startsWith('kiln: execution stopped'));
  return lines.slice(-20).join('\n').slice(-2000) || 'the function failed';
}

/** An invocation as C1's FunctionInvocation: SUCCESS only for a JSON object returned. */
export function invocationBody({ c1, status: read }: C1InvocationStatus) {
  const invocation = read?.invocation ?? null;
  const execution = read?.record ?? null;
  const body: Record<string, unknown> = {
    id: c1.id,
    functionId: c1.functionId,
    commitId: c1.commitId,
    input: c1.input,
    createdAt: c1.createdAt,
    updatedAt: invocation?.endedAt ?? invocation?.startedAt ?? c1.createdAt,
  };
  const status = invocation?.status ?? (execution ? 'finished' : 'failed');
  if (status !== 'finished') {
    body.status = STATUS[status];
    if (status === 'interrupted' || status === 'failed' || status === 'cancelled')
      body.error = invocation?.reason ?? 'the invocation did not finish';
    return body;
  }
  const r = (execution?.result ?? {}) as {
    output_status?: string;
    output_json?: string | null;
    stderr?: string;
    stop_reason?: string;
    exit_code?: number;
  };
  const output = r.output_status === 'valid' && r.output_json ? (JSON.parse(r.output_json) as unknown) : undefined;
  const isObject = output !== null && typeof output === 'object' && !Array.isArray(output);
  if (r.stop_reason === 'exited' && r.exit_code === 0 && isObject) return { ...body, status: 'FUNCTION_INVOCATION_STATUS_SUCCESS', output };
  const error =
    r.output_status === 'valid' && !isObject
      ? `main returned ${Array.isArray(output) ? 'an array' : output === null || output === undefined ? 'null' : typeof output}; a ConductorOne function must return a JSON object`
      : r.stop_reason && r.stop_reason !== 'exited'
        ? `stopped: ${r.stop_reason}\n${errorText(r.stderr ?? '')}`
        : errorText(r.stderr ?? '');
  return { ...body, status: 'FUNCTION_INVOCATION_STATUS_ERROR', error };
}
