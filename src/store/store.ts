import type { C1Store } from './c1-store.js';
import type { FunctionStore } from './function-store.js';
import type { InvocationStore } from './invocation-store.js';
import type { RuntimeStore } from './runtime-store.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';

/**
 * kiln's state, behind one interface with two implementations (SQLite embedded, Postgres for
 * replicas) that pass the same contract suite (test/contract/). Every read and write is scoped by
 * project: an object of another project is indistinguishable from a missing one.
 *
 * Ids are time-ordered (`newId`), so lists are ordered by id, newest first, and a cursor
 * (`startingAfter`, the last id of the previous page) needs no lookup.
 */

export interface Page {
  /** 1..100 */
  limit: number;
  /** Return only objects listed after this id (older than it). */
  startingAfter?: string;
}

/** Page.limit, clamped to 1..100 again in the store: a caller's slip cannot read a whole table. */
export const pageSize = (page: Page) => Math.min(100, Math.max(1, Math.floor(page.limit)));

/**
 * Every item of a listing paged by id (newest first), a page of 100 at a time, up to `max`: for
 * the few places that need a whole project's objects (a catalog, a lookup by name).
 */
export async function* everyItem<T>(list: (page: Page) => Promise<T[]>, idOf: (item: T) => string, max = 10_000): AsyncGenerator<T> {
  let startingAfter: string | undefined;
  for (let seen = 0; seen < max; ) {
    const page = await list({ limit: 100, startingAfter });
    for (const item of page) yield item;
    seen += page.length;
    if (page.length < 100) return;
    startingAfter = idOf(page.at(-1)!);
  }
}

/** One immutable revision of a tool: everything that defines how it runs. */
export interface ToolRevision {
  id: string; // rev_…
  toolId: string; // tool_…
  project: string;
  name: string;
  description: string;
  language: string;
  code: string;
  /** A JSON Schema (draft 2020-12 or draft-07), or null for none. */
  inputSchema: unknown;
  runtimeRevisionId: string | null;
  /** Stored bindings applied whenever the tool runs. */
  env: EnvBinding[];
  http: { allow: AllowBinding[] } | null;
  /** Files written beside the code before it runs (a ConductorOne function's other files); none for most tools. */
  files?: { path: string; contents: string }[];
  /** The function it calls: execute(input) (the default), or the module's default export. */
  entry?: 'execute' | 'default';
  createdAt: string; // RFC 3339
}

/** A tool as listed and fetched: its latest revision, under the tool's id. */
export interface Tool extends Omit<ToolRevision, 'id'> {
  id: string; // the tool id
  revisionId: string; // its latest revision
}

/**
 * A tool as catalogs and lookups by name see it: everything but its code and files, which only a
 * run or a read of the tool itself needs (together up to 5 MiB a revision).
 */
export type ToolSummary = Omit<Tool, 'code' | 'files'>;

export interface SecretRecord {
  id: string; // secret_…
  project: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** A secret with its sealed value (see src/secrets/secret-box.ts); the store never sees a clear value. */
export interface SealedSecret extends SecretRecord {
  sealed: string;
}

import type { ExecutionKind, ExecutionVia } from '../model/vocabulary.js';

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
  request: unknown;
  result: unknown;
}

export interface Store {
  /** Custom runtimes and their builds. */
  readonly runtimes: RuntimeStore;
  /** Async invocations, their webhooks, and each project's signing secret. */
  readonly invocations: InvocationStore;
  /** ConductorOne functions: what they keep besides their tools. */
  readonly c1: C1Store;
  /** Functions registered the iii engine's way. */
  readonly functions: FunctionStore;

  // tools: a tool row points at its latest revision; revisions are append-only
  createTool(revision: ToolRevision): Promise<Tool>;
  /**
   * Appends a revision and makes it the latest; null when the tool does not exist in the project,
   * or (given `expectedHeadId`) its latest revision is no longer that one: nothing is written then.
   */
  addToolRevision(revision: ToolRevision, expectedHeadId?: string): Promise<Tool | null>;
  getTool(project: string, toolId: string): Promise<Tool | null>;
  getToolRevision(project: string, toolId: string, revisionId: string): Promise<ToolRevision | null>;
  /** A page of tools with their code (Riza's listing shows it), without their other files. */
  listTools(project: string, page: Page): Promise<Tool[]>;
  /** A page of tools without code or files: for catalogs, and for surfaces that list by name. */
  listToolSummaries(project: string, page: Page): Promise<ToolSummary[]>;
  /** The newest tool whose latest revision has this name (an index finds it, no scan). */
  findToolByName(project: string, name: string): Promise<ToolSummary | null>;
  /** The summaries of those of `ids` that are tools of the project. */
  toolSummaries(project: string, ids: string[]): Promise<ToolSummary[]>;
  /** A page of the tool's revisions by id and time only (a C1 commit list); null when the tool does not exist in the project. */
  listToolRevisionStamps(project: string, toolId: string, page: Page): Promise<{ id: string; createdAt: string }[] | null>;
  /** A page of the tool's revisions with their code, without their other files; null when the tool does not exist in the project. */
  listToolRevisions(project: string, toolId: string, page: Page): Promise<ToolRevision[] | null>;
  /** Removes the tool and its revisions (executions that ran it stay); false when it did not exist. */
  deleteTool(project: string, toolId: string): Promise<boolean>;

  createSecret(secret: SealedSecret): Promise<SecretRecord>;
  listSecrets(project: string, page: Page): Promise<SecretRecord[]>;
  /** The secrets of the project among `ids` (missing ones are simply absent). */
  getSecrets(project: string, ids: string[]): Promise<SealedSecret[]>;
  /** Replaces the sealed value; null when the secret does not exist in the project. */
  updateSecret(project: string, id: string, sealed: string, updatedAt: string): Promise<SecretRecord | null>;
  deleteSecret(project: string, id: string): Promise<boolean>;

  /** Records an execution once: recording the same id again (a retry) keeps the first and succeeds. */
  recordExecution(record: ExecutionRecord): Promise<void>;
  getExecution(project: string, id: string): Promise<ExecutionRecord | null>;
  listExecutions(project: string, page: Page & { onlyNonZeroExitCodes?: boolean }): Promise<ExecutionRecord[]>;
  /**
   * Retention: removes executions started before `olderThan` (RFC 3339), and in each project all but
   * the newest `keepPerProject` (or `keep[project]`, a project's own). Returns how many it removed.
   */
  pruneExecutions(opts: { olderThan: string; keepPerProject: number; keep?: Readonly<Record<string, number>> }): Promise<number>;

  /** Throws unless the database answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
