import type { KeyOfRequest } from '../access/scopes.js';
import type { Language } from '../runtimes/registry.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import type { ExecutionVia, Tool } from '../store/store.js';
import type { Mode } from '../sandbox/job.js';
import type { RunStream } from '../sandbox/job.js';
import type { StageTimer } from '../timings.js';

/** Literal code sent with the request (Riza's execute endpoints). */
export interface CodeTarget {
  kind: 'code';
  language: Language;
  code: string;
  runtimeRevisionId?: string | null;
  /**
   * An AT function: `code` is a pure-v1 WebAssembly module in base64, run by the Node harness. The
   * log keeps the function's URI and CID, which name the module exactly, rather than its megabytes.
   */
  wasm?: { memoryBytes: number; functionUri: string; functionCid: string };
}

/** A saved tool, at its latest revision or a pinned one. */
export interface ToolTarget {
  kind: 'tool';
  toolId: string;
  revisionId?: string | null;
}

/**
 * One execution as every surface asks for it, whatever its wire format: each adapter maps its
 * request to this, and the core (resolve → admit → run → log) does the rest. Field names in the
 * errors the core raises are those of kiln's own (Riza's) wire: `env.0.secret_id`, `limits.memory_size`.
 */
export interface ExecutionRequest {
  /** The execution's id when it was given one before it ran (an async invocation's); else a new one. */
  id?: string;
  project: string;
  /** The surface that asked, kept in the executions log ('api' when not given). */
  via?: ExecutionVia;
  mode: Mode;
  target: CodeTarget | ToolTarget;
  input?: unknown;
  args?: string[];
  stdin?: string;
  env?: EnvBinding[];
  files?: { path: string; contents: string }[];
  allow?: AllowBinding[];
  limits?: { executionTimeout?: number | null; memorySize?: number | null } | null;
  /** The key that asked: the log says which ran it (its id and name); one limited to some tools runs those only. */
  key?: KeyOfRequest | null;
  /**
   * Saved tools the code may call (issue 27), by id or name, or all the key may run: its box gets
   * a module of them (`kiln_tools`, `kiln:tools`), each call a child execution of its own.
   */
  tools?: string[] | 'all';
  /** A child's place in its tree of tool calls (set by src/tools/tool-gateway.ts, never by a caller). */
  lineage?: ToolLineage;
}

/** What a tree of tool calls shares: its count of children, its bounds, and the root's deadline. */
export interface ToolBudget {
  children: number;
  readonly maxChildren: number;
  readonly maxDepth: number;
  /** performance.now() at which the root's time is up. */
  readonly deadline: number;
}

/** Where an execution stands in its tree of tool calls. */
export interface ToolLineage {
  parentId: string;
  depth: number;
  /** The tools running above it, itself last: none of them may be called again below. */
  ancestors: readonly string[];
  budget: ToolBudget;
  /** The tools the tree may call, resolved once at its root. */
  callable: ReadonlyMap<string, Tool>;
}

/**
 * Who asks for a call that is not an ExecutionRequest (a session's call, a sandbox's process): the
 * surface it came through and its key, which the executions log records.
 */
export interface Caller {
  via: ExecutionVia;
  key?: KeyOfRequest | null;
}

/** What the caller's transport knows about the request: its size (for admission) and whether it left. */
export interface ExecutionContext {
  bytes: number;
  signal?: AbortSignal;
  /**
   * Work nobody waits on (async invocations): it is never refused for a full queue, and waits
   * behind every request a caller holds open. Its own share of slots is bounded by its workers.
   */
  background?: boolean;
  /** Stops the run once it has begun (see Job.cancel). */
  cancel?: AbortSignal;
  /** The request's stage timer (Server-Timing), when its transport reports one. */
  timer?: StageTimer;
  /** A streamed run's listener: its output reaches it as it comes, with the run's secrets taken out. */
  stream?: RunStream;
  /** The key of the HTTP request (a dialect that builds its request from ctx passes it on: AT). */
  key?: KeyOfRequest | null;
  /** A tool call of a running execution, this deep: admitted apart, so that a parent never waits on itself. */
  child?: number;
}
