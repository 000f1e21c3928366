import type { KeyOfRequest } from '../access/scopes.js';
import type { Language } from '../runtimes/registry.js';
import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import type { ExecutionVia } from '../store/store.js';
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
}
