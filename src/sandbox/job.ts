import type { AllowRule } from '../egress/host-rules.js';
import type { Runtime } from './runtime.js';
import type { StageTimer } from '../timings.js';

/**
 * The sandbox's contract: a job (one execution, resolved and ready for a sandbox: the core builds
 * it in src/execution/resolve.ts) and its RunResult (what the sandbox made of it). A job carries its
 * id from the start, so that the id in every answer, log line and executions-log row is the same one.
 */
interface JobBase {
  id: string;
  runtime: Runtime;
  code: string;
  env: Record<string, string>;
  files: { path: string; contents: string }[];
  /** Hosts the code may reach through the egress proxy, with their credentials (which stay in kiln). */
  allow: AllowRule[];
  timeoutMs: number;
  memoryMiB: number;
  /** Aborted to stop the run from outside (an async invocation's cancel): it ends `cancelled`. */
  cancel?: AbortSignal;
  /** The request's stage timer (Server-Timing): the runner marks acquire, box, decode and release. */
  timer?: StageTimer;
  /** A streamed run: told once the box has the request, then given its stdout and stderr as kept. */
  stream?: RunStream;
  /**
   * Tools the code may call (issue 27): the module its harness gives it (`kiln_tools`, `kiln:tools`),
   * and what answers the calls it makes through its tunnel.
   */
  tools?: { module: string; gateway: ToolGateway };
}

/** What answers a box's calls to its tools (src/tools/tool-gateway.ts), reached through its egress tunnel. */
export interface ToolGateway {
  /** `path`: the request's, less what routed it here (a session's call: `/c/<call id>`). */
  handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, path?: string): void;
}

/** What a streamed run tells its listener (src/api/sse.ts): the bytes are the box's, before any redaction. */
export interface RunStream {
  started(executionId: string): void;
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** A session's execute: a result bundle as the code displays it (the answer's results hold it too). */
  display?(bundle: Record<string, unknown>): void;
}

/** Code that defines execute(input): the answer is its return value. */
export interface FunctionJob extends JobBase {
  mode: 'function';
  input: unknown;
  /**
   * The function to call: `execute` (Riza's contract, the default), or the module's default
   * export (`export default async function main(input)`, ConductorOne's); JavaScript and TypeScript only.
   */
  entry?: 'execute' | 'default' | 'wasm';
  /** entry `wasm` (an AT function's pure-v1 module, `code` in base64): the most its memory may grow to. */
  wasmMemoryBytes?: number;
}

/** A script: stdin and argv in, exit code and output back. */
export interface ScriptJob extends JobBase {
  mode: 'script';
  args: string[];
  stdin: string;
}

export type Job = FunctionJob | ScriptJob;
export type Mode = Job['mode'];

/**
 * Why the run ended: by itself, or stopped from outside for breaking a limit. The one list: Riza's
 * `stop_reason` enum and the MCP result schema are derived from it.
 */
export const STOP_REASONS = ['exited', 'timeout', 'out_of_memory', 'output_limit', 'sandbox_error', 'cancelled'] as const;
export type StopReason = (typeof STOP_REASONS)[number];
export type OutputStatus = 'valid' | 'json_serialization_error' | 'error';

/** What a sandbox made of a job. */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stopReason: StopReason;
  durationMs: number;
  /** Function mode: the return value as JSON text, exactly as the code produced it (big integers intact). */
  outputJson: string | null;
  outputStatus: OutputStatus;
  /** What the code left under /mnt/req/out (a one-shot run that ended by itself), within the bounds. */
  files?: { path: string; data: Buffer }[];
  /** Some were left out: past KILN_OUTPUT_FILES_MAX or KILN_OUTPUT_FILES_MAX_BYTES, or a name kiln cannot serve. */
  filesTruncated?: boolean;
}

export type RunJob = (job: Job) => Promise<RunResult>;
