import type { ExecutionKind, ExecutionVia } from '../../model/vocabulary.js';
import type { Page } from '../page.js';

export type { ExecutionKind, ExecutionVia };

/** One row of the executions log. `request` is already redacted: env names only, no credentials. */
export interface ExecutionRecord {
  id: string; // exec_…
  project: string;
  kind: ExecutionKind;
  via: ExecutionVia;
  language: string;
  exitCode: number;
  durationMs: number;
  startedAt: string; // RFC 3339
  toolId: string | null;
  revisionId: string | null;
  /** The session it ran in (a session call), else null. */
  sessionId?: string | null;
  /** The execution whose code called it as a tool (issue 27), else null. */
  parentId?: string | null;
  /** The key that ran it: its id (null for one of KILN_API_KEYS) and its name. */
  key?: { id: string | null; name: string } | null;
  request: unknown;
  result: unknown;
}

/** What retention keeps (see ExecutionStore.prune). */
export interface PruneOptions {
  olderThan: string;
  keepPerProject: number;
  keep?: Readonly<Record<string, number>>;
}

/** What the console filters the log by (issue 28); each given one narrows it. */
export interface ExecutionFilter {
  via?: ExecutionVia;
  toolId?: string;
  /** failed: a non-zero exit code; ok: zero. */
  outcome?: 'failed' | 'ok';
  /** The result's stop_reason (exited, timeout, out_of_memory, …). */
  stopReason?: string;
  exitCode?: number;
  /** RFC 3339 bounds of started_at. */
  startedAfter?: string;
  startedBefore?: string;
}

/** A row of the log as a list shows it: no request, no result (they are read one execution at a time). */
export type ExecutionSummary = Omit<ExecutionRecord, 'request' | 'result' | 'project'> & { stopReason: string | null };

/** The executions log. */
export interface ExecutionStore {
  /** The project's log, newest first, filtered, without the requests and results (a list page's). */
  summaries(project: string, page: Page & ExecutionFilter): Promise<ExecutionSummary[]>;
  /** Records an execution once: recording the same id again (a retry) keeps the first and succeeds. */
  record(record: ExecutionRecord): Promise<void>;
  get(project: string, id: string): Promise<ExecutionRecord | null>;
  list(project: string, page: Page & { onlyNonZeroExitCodes?: boolean }): Promise<ExecutionRecord[]>;
  /**
   * Retention: removes executions started before `olderThan` (RFC 3339), and in each project all but
   * the newest `keepPerProject` (or `keep[project]`, a project's own). Returns how many it removed.
   */
  prune(opts: PruneOptions): Promise<number>;
  /** Keeps a one-shot execution's output files (already redacted) with it; pruned with it. */
  recordFiles(project: string, executionId: string, files: { path: string; data: Buffer }[]): Promise<void>;
  /** One output file's bytes; null when the project's execution has no such file (or is gone). */
  getFile(project: string, executionId: string, path: string): Promise<Buffer | null>;
}
