import type { Page } from '../page.js';

/**
 * ConductorOne functions (issue 12): the part of C1's model a kiln tool lacks. The function's id
 * is its tool's; a commit's id is its tool revision's; an invocation's is its execution's.
 */

export interface C1FunctionRecord {
  toolId: string;
  project: string;
  functionType: string;
  publishedCommitId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface C1CommitRecord {
  id: string; // rev_…: the revision it becomes when finalized
  functionId: string;
  project: string;
  message: string;
  /** The files the commit is made of (an upload URL each). */
  filenames: string[];
  /** What has been uploaded so far: filename → contents (UTF-8 text). */
  uploads: Record<string, string>;
  finalized: boolean;
  createdAt: string;
}

/** A commit still waiting for its files: what an upload needs to know of it (never the files). */
export interface PendingCommit {
  id: string;
  functionId: string;
  filenames: string[];
}

/** How an upload went: stored, no such pending commit, or the commit would outgrow its bound. */
export type AddUpload = 'added' | 'missing' | 'too_large';

export interface C1InvocationRecord {
  id: string; // exec_…
  functionId: string;
  project: string;
  commitId: string;
  input: unknown;
  createdAt: string;
}

export interface C1Store {
  putFunction(record: C1FunctionRecord): Promise<void>;
  getFunction(project: string, toolId: string): Promise<C1FunctionRecord | null>;
  /** Newest first. */
  listFunctions(project: string, page: Page): Promise<C1FunctionRecord[]>;
  setPublished(project: string, toolId: string, commitId: string | null, at: string): Promise<void>;
  touchFunction(project: string, toolId: string, at: string): Promise<void>;
  deleteFunction(project: string, toolId: string): Promise<void>;

  putCommit(record: C1CommitRecord): Promise<void>;
  getCommit(project: string, functionId: string, id: string): Promise<C1CommitRecord | null>;
  /** A pending commit by its id alone (an upload URL names the commit, not the function); null once finalized. */
  pendingCommit(project: string, id: string): Promise<PendingCommit | null>;
  /**
   * Records (or replaces) one upload of a pending commit, unless the commit's uploads would then
   * hold more than `maxCommitBytes` together; concurrent uploads of one commit are counted in turn.
   */
  addUpload(project: string, id: string, filename: string, contents: string, maxCommitBytes: number): Promise<AddUpload>;
  /** Removes the function's pending commits (and their uploads) but the newest `keep`; answers how many went. */
  prunePendingCommits(project: string, functionId: string, keep: number): Promise<number>;
  markFinalized(project: string, id: string): Promise<boolean>;

  putInvocation(record: C1InvocationRecord): Promise<void>;
  getInvocation(project: string, functionId: string, id: string): Promise<C1InvocationRecord | null>;
  /** Newest first. */
  listInvocations(project: string, functionId: string, page: Page): Promise<C1InvocationRecord[]>;
}
