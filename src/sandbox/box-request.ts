/**
 * What kiln writes to a box to start something in it (src/sandbox/box-protocol.ts): a run's or a
 * build's request, or the start of a session. Pure: unit-tested byte by byte.
 */
import { AppError } from '../errors.js';
import type { FunctionJob, Job, ScriptJob } from './job.js';

type Wire<J extends Job, K extends keyof J> = Pick<J, K> & { runtime: Pick<J['runtime'], 'language'> };
/** What the request line carries of a job: a run's, or a build box's. */
export type HarnessRequest =
  | (Wire<FunctionJob, 'mode' | 'code' | 'env' | 'files' | 'timeoutMs' | 'input' | 'entry' | 'wasmMemoryBytes'> & ToolsModule)
  | (Wire<ScriptJob, 'mode' | 'code' | 'env' | 'files' | 'timeoutMs' | 'args' | 'stdin'> & ToolsModule);

/** The tools module a job's harness installs (issue 27): only its source travels, never the gateway. */
type ToolsModule = { tools?: { module: string } };

/**
 * What kiln writes to a box once: the header the wrapper reads ("<mode> <deadline ms or -> <request
 * line bytes> <stdin bytes> <output files> <output bytes>"), the request line the harness reads (JSON: what to run, and how), and
 * the code's stdin. The wrapper needs no JSON parser for its part.
 */
export function encodeRequest(job: HarnessRequest, outputFiles: { count: number; bytes: number } = { count: 0, bytes: 0 }): string {
  const common = {
    mode: job.mode,
    language: job.runtime.language,
    code: job.code,
    env: job.env,
    files: job.files,
    deadline_ms: job.timeoutMs,
    ...(job.tools ? { tools_module: job.tools.module } : {}),
  };
  const fields =
    job.mode === 'function'
      ? {
          ...common,
          input: job.input ?? null,
          args: [],
          ...(job.entry && job.entry !== 'execute' ? { entry: job.entry } : {}),
          ...(job.wasmMemoryBytes ? { wasm_memory_bytes: job.wasmMemoryBytes } : {}),
        }
      : { ...common, input: null, args: job.args };
  let line: string;
  try {
    line = `${JSON.stringify(fields)}\n`;
  } catch {
    throw new AppError('BAD_REQUEST', 'input: nested too deeply to serialize', [{ field: 'input', reason: 'too_deep' }]);
  }
  const stdin = job.mode === 'script' ? job.stdin : '';
  // byte lengths as the string is written (UTF-8; a lone surrogate becomes U+FFFD's 3 bytes both ways)
  const deadline = job.timeoutMs > 0 ? String(Math.ceil(job.timeoutMs)) : '-';
  const files = `${outputFiles.count} ${outputFiles.bytes}`;
  return `${job.mode} ${deadline} ${Buffer.byteLength(line)} ${Buffer.byteLength(stdin)} ${files}\n${line}${stdin}`;
}

/**
 * What starts a session in a warm box (see box-protocol.ts): a request of mode `session`, whose
 * deadline is the session's whole lifetime (the wrapper's backstop should kiln be gone), with the
 * env and files every context of it starts from.
 */
export function encodeSessionStart(start: {
  language: string;
  env: Record<string, string>;
  files: { path: string; contents: string }[];
  lifetimeMs: number;
}): string {
  const line = `${JSON.stringify({ mode: 'session', language: start.language, env: start.env, files: start.files, deadline_ms: start.lifetimeMs })}\n`;
  return `session ${Math.ceil(start.lifetimeMs)} ${Buffer.byteLength(line)} 0 0 0\n${line}`;
}
