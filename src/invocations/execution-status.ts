import type { InvocationRecord } from '../store/invocations/records.js';
import type { ExecutionFilter, ExecutionRecord, Page, Store } from '../store/store.js';

/**
 * An execution as every surface reports it, in no dialect: its entry in the executions log (once it
 * ended with an answer) and, for an async one, its invocation (where it stands, its webhook). Riza's
 * GET /v1/executions/{id}, the webhook body and C1's invocation reads all render from this.
 */
export interface ExecutionStatus {
  id: string;
  record: ExecutionRecord | null;
  invocation: InvocationRecord | null;
}

/** The read side of executions: the log's pages and one execution's status, scoped to a project. */
export function createExecutionStatuses(store: Pick<Store, 'executions' | 'invocations'>) {
  return {
    /** Null when the project has neither a logged execution nor an invocation of that id. */
    async get(project: string, id: string): Promise<ExecutionStatus | null> {
      const [record, invocation] = await Promise.all([store.executions.get(project, id), store.invocations.get(project, id)]);
      return record || invocation ? { id, record, invocation } : null;
    },
    /** A page of the log as a list shows it (no requests, no results), newest first, filtered. */
    summaries: (project: string, page: Page & ExecutionFilter) => store.executions.summaries(project, page),
    /** A page of the executions log, newest first. */
    list: (project: string, page: Page & { onlyNonZeroExitCodes?: boolean }) => store.executions.list(project, page),
    /** Whether the log holds this execution (it ended with its answer). */
    logged: async (project: string, id: string) => (await store.executions.get(project, id)) !== null,
    /** An output file of the project's execution `id` (what its code left under /mnt/req/out); null if none. */
    file: (project: string, id: string, path: string) => store.executions.getFile(project, id, path),
  };
}

export type ExecutionStatuses = ReturnType<typeof createExecutionStatuses>;
