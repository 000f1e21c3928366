import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { EgressProxy } from '../egress/proxy.js';
import type { FunctionJob, Job, OutputStatus, RunResult, ScriptJob, StopReason } from './job.js';
import type { SandboxHandle } from './docker.js';
import { FrameDecoder } from './output.js';
import type { SandboxProvider } from './provider.js';
import { tunnelFor } from './tunnel.js';

type Wire<J extends Job, K extends keyof J> = Pick<J, K> & { runtime: Pick<J['runtime'], 'language'> };
/** What the request line carries of a job: a run's, or a build box's (src/builds/build-box.ts). */
export type HarnessRequest =
  | Wire<FunctionJob, 'mode' | 'code' | 'env' | 'files' | 'timeoutMs' | 'input' | 'entry' | 'wasmMemoryBytes'>
  | Wire<ScriptJob, 'mode' | 'code' | 'env' | 'files' | 'timeoutMs' | 'args' | 'stdin'>;

/** The one request line the harness reads: what to run, and how. */
export function requestLine(job: HarnessRequest): string {
  const common = {
    mode: job.mode,
    language: job.runtime.language,
    code: job.code,
    env: job.env,
    files: job.files,
    deadline_ms: job.timeoutMs,
  };
  const fields =
    job.mode === 'function'
      ? {
          ...common,
          input: job.input ?? null,
          args: [],
          stdin: '',
          ...(job.entry && job.entry !== 'execute' ? { entry: job.entry } : {}),
          ...(job.wasmMemoryBytes ? { wasm_memory_bytes: job.wasmMemoryBytes } : {}),
        }
      : { ...common, input: null, args: job.args, stdin: job.stdin };
  try {
    return `${JSON.stringify(fields)}\n`;
  } catch {
    throw new AppError('BAD_REQUEST', 'input: nested too deeply to serialize', [{ field: 'input', reason: 'too_deep' }]);
  }
}

/** Runs each job in a sandbox of its own, lent by the provider: deliver → collect → give back. */
export function createRunner(deps: { provider: SandboxProvider; config: Config; egress: EgressProxy }) {
  const { config } = deps;

  async function run(job: Job): Promise<RunResult> {
    const request = requestLine(job);
    const lease = await deps.provider.acquire(job.runtime, job.memoryMiB, job.id);
    try {
      return await drive(lease.sandbox, job, request);
    } finally {
      deps.provider.release(lease);
    }
  }

  async function drive(sandbox: SandboxHandle, job: Job, request: string): Promise<RunResult> {
    // Connections the code opens to its in-box proxy port arrive here, bound to this execution's allow-list.
    const session = { executionId: job.id, rules: job.allow };
    const tunnel = tunnelFor(sandbox, (channel) => deps.egress.serve(channel, session), config.KILN_EGRESS_MAX_CONNECTIONS);
    const decoder = new FrameDecoder(
      { streamBytes: config.KILN_OUTPUT_LIMIT_BYTES, resultBytes: config.KILN_RESULT_LIMIT_BYTES },
      tunnel.onFrame,
    );
    let stopped: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopped) return;
      stopped = reason;
      void sandbox.kill();
    };
    const started = performance.now();
    // The wrapper's exit frame is its last word: answer then, without waiting for the container to stop.
    let reportedExit!: () => void;
    const exited = new Promise<void>((resolve) => (reportedExit = resolve));
    const ended = sandbox.pipe(
      (chunk) => {
        decoder.push(chunk);
        if (decoder.violation) stop(decoder.violation === 'output_limit' ? 'output_limit' : 'sandbox_error');
        else if (decoder.exit) reportedExit();
      },
      (chunk) => {
        decoder.pushWrapperStderr(chunk);
        if (decoder.violation) stop('output_limit');
      },
    );
    // The host-side deadline: whatever the code does, the box dies at its limit; and should its stream
    // not end after the kill, the answer does not wait for it.
    let giveUp: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      stop('timeout');
      giveUp = setTimeout(reportedExit, 10_000);
    }, job.timeoutMs);
    const cancel = () => {
      stop('cancelled');
      giveUp ??= setTimeout(reportedExit, 10_000);
    };
    if (job.cancel?.aborted) cancel();
    else job.cancel?.addEventListener('abort', cancel, { once: true });
    try {
      sandbox.send(request);
      await Promise.race([ended, exited]);
    } finally {
      clearTimeout(deadline);
      clearTimeout(giveUp);
      job.cancel?.removeEventListener('abort', cancel);
      tunnel.closeAll();
      deps.egress.end(session);
    }
    const durationMs = Math.round(performance.now() - started);

    let exitCode: number;
    let stopReason: StopReason;
    // A deadline or a cancel that came after the wrapper reported the exit changed nothing: the run had finished.
    if (decoder.exit && (stopped === null || stopped === 'timeout' || stopped === 'cancelled')) {
      exitCode = decoder.exit.exit_code;
      stopReason = decoder.exit.oom ? 'out_of_memory' : 'exited';
    } else if (stopped) {
      exitCode = 137;
      stopReason = stopped;
    } else {
      // The wrapper itself died (killed by the OOM killer, or by the code): ask Docker why.
      const state = await sandbox.state().catch(() => null);
      // Not a byte from the wrapper, and no OOM: the box was gone before it could run anything
      // (Docker restarted under it). That is the service's failure, not the code's.
      if (!state?.oomKilled && !decoder.sawFrames && !decoder.stderr.text())
        throw new AppError('SANDBOX_UNAVAILABLE', 'the sandbox ended before it could run the code; retry', [{ reason: 'sandbox_lost' }]);
      exitCode = state?.exitCode || 137;
      stopReason = state?.oomKilled ? 'out_of_memory' : 'sandbox_error';
    }
    const { outputJson, outputStatus } =
      job.mode === 'function' && stopReason === 'exited'
        ? readResult(decoder.result)
        : { outputJson: null, outputStatus: 'error' as const };
    return {
      exitCode,
      stopReason,
      durationMs,
      outputJson,
      outputStatus,
      stdout: decoder.stdout.text(),
      stderr: decoder.stderr.text() + stopNotice(stopReason, job),
      stdoutTruncated: decoder.stdout.truncated,
      stderrTruncated: decoder.stderr.truncated,
    };
  }

  return { run };
}

/** The result frame: a status word, a newline, then (when valid) the return value as JSON text. */
function readResult(result: Buffer | null): { outputJson: string | null; outputStatus: OutputStatus } {
  if (!result) return { outputJson: null, outputStatus: 'error' };
  const text = result.toString('utf8');
  const newline = text.indexOf('\n');
  const status = text.slice(0, newline);
  if (status === 'json_serialization_error') return { outputJson: null, outputStatus: status };
  if (status !== 'valid') return { outputJson: null, outputStatus: 'error' };
  const json = text.slice(newline + 1);
  try {
    JSON.parse(json); // the box wrote it; never pass on what is not JSON
  } catch {
    return { outputJson: null, outputStatus: 'error' };
  }
  return { outputJson: json, outputStatus: 'valid' };
}

/** A line appended to stderr so that a user reading only stderr still learns why the run stopped. */
function stopNotice(reason: StopReason, job: Job): string {
  switch (reason) {
    case 'timeout':
      return `\nkiln: execution stopped: it ran past its ${job.timeoutMs / 1000} s timeout\n`;
    case 'out_of_memory':
      return `\nkiln: execution stopped: it ran out of memory (limit ${job.memoryMiB} MiB)\n`;
    case 'output_limit':
      return '\nkiln: execution stopped: its output passed the size limit\n';
    case 'sandbox_error':
      return '\nkiln: execution stopped: the sandbox ended abnormally\n';
    case 'cancelled':
      return '\nkiln: execution stopped: it was cancelled\n';
    default:
      return '';
  }
}
