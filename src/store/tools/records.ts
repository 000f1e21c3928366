import type { AllowBinding, EnvBinding } from '../../model/bindings.js';
import type { Page } from '../page.js';

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

/** Tools: a tool row points at its latest revision; revisions are append-only. */
export interface ToolStore {
  create(revision: ToolRevision): Promise<Tool>;
  /**
   * Appends a revision and makes it the latest; null when the tool does not exist in the project,
   * or (given `expectedHeadId`) its latest revision is no longer that one: nothing is written then.
   */
  addRevision(revision: ToolRevision, expectedHeadId?: string): Promise<Tool | null>;
  get(project: string, toolId: string): Promise<Tool | null>;
  getRevision(project: string, toolId: string, revisionId: string): Promise<ToolRevision | null>;
  /** A page of tools with their code (Riza's listing shows it), without their other files. */
  list(project: string, page: Page): Promise<Tool[]>;
  /** A page of tools without code or files: for catalogs, and for surfaces that list by name. */
  listSummaries(project: string, page: Page): Promise<ToolSummary[]>;
  /** The newest tool whose latest revision has this name (an index finds it, no scan). */
  findByName(project: string, name: string): Promise<ToolSummary | null>;
  /** The summaries of those of `ids` that are tools of the project. */
  summaries(project: string, ids: string[]): Promise<ToolSummary[]>;
  /** A page of the tool's revisions by id and time only (a C1 commit list); null when the tool does not exist in the project. */
  listRevisionStamps(project: string, toolId: string, page: Page): Promise<{ id: string; createdAt: string }[] | null>;
  /** A page of the tool's revisions with their code, without their other files; null when the tool does not exist in the project. */
  listRevisions(project: string, toolId: string, page: Page): Promise<ToolRevision[] | null>;
  /** Removes the tool and its revisions (executions that ran it stay); false when it did not exist. */
  delete(project: string, toolId: string): Promise<boolean>;
}
