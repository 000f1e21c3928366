/**
 * MCP tasks (protocol 2025-11-25, issue 24) on kiln's durable invocations: a `tools/call` with a
 * `task` is accepted as an async invocation (checked, sealed, stored, queued) and answered at once
 * with its task; `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` read and cancel that
 * invocation. So a task answers on any replica of the store, survives a kiln restart under the
 * invocations' at-most-once rule (a run cut by a crash ends `failed`, saying it was interrupted),
 * and is in /v1/executions. The SDK serves the four methods over the store this file gives it.
 */
import type { TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { CallToolResult, Task } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionRequest } from '../../execution/request.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { RunResult, StopReason } from '../../sandbox/job.js';
import type { InvocationRecord } from '../../store/invocations/records.js';
import { toolResult } from './results.js';

/** How often a client is told to poll a task. */
const POLL_MS = 1000;
const PAGE = 50;
/** How long tasks/cancel waits for a running task's run to stop. */
const CANCEL_WAIT_MS = 5000;

/** The task an invocation is, in MCP's words. */
export function taskOf(record: InvocationRecord): Task {
  const status: Task['status'] =
    record.status === 'queued' || record.status === 'running'
      ? 'working'
      : record.status === 'finished'
        ? 'completed'
        : record.status === 'cancelled'
          ? 'cancelled'
          : 'failed';
  return {
    taskId: record.id,
    status,
    ...(record.reason ? { statusMessage: record.reason } : {}),
    createdAt: record.createdAt,
    lastUpdatedAt: record.endedAt ?? record.startedAt ?? record.createdAt,
    ttl: null, // kept as long as the executions log keeps it
    pollInterval: POLL_MS,
  };
}

/** The logged result back as the run's, for the tool result a model reads. */
function runOf(result: Record<string, unknown>): RunResult {
  return {
    exitCode: Number(result.exit_code ?? 0),
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    stdoutTruncated: result.stdout_truncated === true,
    stderrTruncated: result.stderr_truncated === true,
    stopReason: (result.stop_reason ?? 'exited') as StopReason,
    durationMs: Number(result.duration ?? 0),
    outputJson: typeof result.output_json === 'string' ? result.output_json : null,
    outputStatus: (result.output_status ?? 'error') as RunResult['outputStatus'],
  };
}

/** Accepts `req` as a task (an invocation via MCP): the CreateTaskResult to answer at once. */
export async function createTask(invocations: Invocations, req: ExecutionRequest, bytes: number) {
  const record = await invocations.accept({ ...req, via: 'mcp' }, { bytes });
  return { task: taskOf(record) };
}

/** The TaskStore the SDK serves tasks/get, tasks/result, tasks/list and tasks/cancel from: one project's MCP invocations. */
export function invocationTasks(
  deps: { invocations: Invocations; statuses: ExecutionStatuses; listInvocations: Invocations['list']; outputLimit: number },
  project: string,
): TaskStore {
  const invocation = async (taskId: string) => {
    const status = await deps.statuses.get(project, taskId);
    return status?.invocation?.via === 'mcp' ? status : null;
  };
  return {
    createTask: () => Promise.reject(new Error('kiln creates a task from its tools/call (createTask in ./tasks.ts)')),
    storeTaskResult: () => Promise.resolve(), // a task's result is its execution's, in the log
    async getTask(taskId) {
      const status = await invocation(taskId);
      return status ? taskOf(status.invocation!) : null;
    },
    async getTaskResult(taskId): Promise<CallToolResult> {
      const status = await invocation(taskId);
      if (!status) throw new Error(`task ${taskId} not found`);
      const { record } = status;
      // an execution that ran has its answer; one that never ran (cancelled while queued, failed) says why
      if (!record)
        return {
          content: [{ type: 'text', text: `The task ${status.invocation!.status}: ${status.invocation!.reason ?? ''}` }],
          isError: true,
        };
      const mode = record.kind === 'script' ? 'script' : 'function';
      return toolResult({ id: record.id, result: runOf(record.result as Record<string, unknown>) } as never, mode, deps.outputLimit);
    },
    async updateTaskStatus(taskId, status) {
      if (status !== 'cancelled') return;
      // a queued one ends at once; a running one once its box is stopped (here at once, on another
      // replica within its next tick): tasks/cancel answers the task as it is after that
      let record = await deps.invocations.cancel(project, taskId);
      for (const until = Date.now() + CANCEL_WAIT_MS; record?.status === 'running' && Date.now() < until; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        record = (await deps.statuses.get(project, taskId))?.invocation ?? null;
      }
    },
    async listTasks(cursor) {
      const rows = await deps.listInvocations(project, 'mcp', { limit: PAGE + 1, startingAfter: cursor });
      const page = rows.slice(0, PAGE);
      return { tasks: page.map(taskOf), ...(rows.length > PAGE ? { nextCursor: page.at(-1)!.id } : {}) };
    },
  };
}
