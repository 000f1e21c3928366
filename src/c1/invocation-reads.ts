import type { ExecutionStatus, ExecutionStatuses } from '../invocations/execution-status.js';
import type { C1InvocationRecord } from '../store/c1/records.js';
import type { Page, Store } from '../store/store.js';

/** A C1 invocation (what was asked) with its execution's status (where it stands, what it answered). */
export interface C1InvocationStatus {
  c1: C1InvocationRecord;
  status: ExecutionStatus | null;
}

/**
 * The read side of C1 invocations: the function's own record of each call, joined with the
 * dialect-free execution status every surface renders from.
 */
export function createC1InvocationReads(deps: { store: Pick<Store, 'c1'>; statuses: ExecutionStatuses }) {
  const withStatus = async (project: string, c1: C1InvocationRecord): Promise<C1InvocationStatus> => ({
    c1,
    status: await deps.statuses.get(project, c1.id),
  });
  return {
    /** A page of a function's invocations, newest first. */
    async page(project: string, functionId: string, page: Page): Promise<C1InvocationStatus[]> {
      const records = await deps.store.c1.listInvocations(project, functionId, page);
      return Promise.all(records.map((r) => withStatus(project, r)));
    },
    /** One invocation of the function; null when the project's function has none of that id. */
    async get(project: string, functionId: string, id: string): Promise<C1InvocationStatus | null> {
      const record = await deps.store.c1.getInvocation(project, functionId, id);
      return record ? withStatus(project, record) : null;
    },
  };
}

export type C1InvocationReads = ReturnType<typeof createC1InvocationReads>;
