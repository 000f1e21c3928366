import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { EgressProxy } from '../egress/proxy.js';
import { encodeRequest } from './box-request.js';
import { openBoxSession } from './box-session.js';
import type { Job, OutputStatus, RunResult, StopReason } from './job.js';
import type { SandboxHandle } from './docker.js';
import type { SandboxProvider } from './provider.js';

/** Runs each job in a sandbox of its own, lent by the provider: deliver → collect → give back. */
export function createRunner(deps: { provider: SandboxProvider; config: Config; egress: EgressProxy }) {
  const { config } = deps;
  /** What a run may give back of what it wrote under /mnt/req/out. */
  const outputFiles = { count: config.KILN_OUTPUT_FILES_MAX, bytes: config.KILN_OUTPUT_FILES_MAX_BYTES };

  async function run(job: Job): Promise<RunResult> {
    const request = encodeRequest(job, outputFiles);
    job.timer?.mark('encode');
    const lease = await deps.provider.acquire(job.runtime, job.memoryMiB, job.id);
    job.timer?.mark('acquire');
    try {
      return await drive(lease.sandbox, job, request);
    } finally {
      deps.provider.release(lease);
      job.timer?.mark('release');
    }
  }

  async function drive(sandbox: SandboxHandle, job: Job, request: string): Promise<RunResult> {
    let stopped: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopped) return;
      stopped = reason;
      void sandbox.kill();
    };
    const started = performance.now();
    const box = openBoxSession(sandbox, {
      limits: { streamBytes: config.KILN_OUTPUT_LIMIT_BYTES, resultBytes: config.KILN_RESULT_LIMIT_BYTES, files: outputFiles },
      // Connections the code opens to its in-box proxy port arrive here, bound to this execution's allow-list.
      egress: {
        proxy: deps.egress,
        session: { executionId: job.id, rules: job.allow, ...(job.tools ? { tools: job.tools.gateway } : {}) },
        maxConnections: config.KILN_EGRESS_MAX_CONNECTIONS,
      },
      onViolation: (violation) => stop(violation === 'output_limit' ? 'output_limit' : 'sandbox_error'),
      ...(job.stream ? { onStream: (kind: 'o' | 'e', data: Buffer) => job.stream!.output(kind === 'o' ? 'stdout' : 'stderr', data) } : {}),
    });
    const { decoder } = box;
    // The host-side deadline: whatever the code does, the box dies at its limit; and should its stream
    // not end after the kill, the answer does not wait for it.
    let giveUpNow!: () => void;
    const gaveUp = new Promise<void>((resolve) => (giveUpNow = resolve));
    let giveUp: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      stop('timeout');
      giveUp = setTimeout(giveUpNow, 10_000);
    }, job.timeoutMs);
    const cancel = () => {
      stop('cancelled');
      giveUp ??= setTimeout(giveUpNow, 10_000);
    };
    if (job.cancel?.aborted) cancel();
    else job.cancel?.addEventListener('abort', cancel, { once: true });
    try {
      box.send(request);
      job.stream?.started(job.id);
      // The wrapper's exit frame is its last word: answer then, without waiting for the container to stop.
      await Promise.race([box.ended, box.exited, gaveUp]);
    } finally {
      clearTimeout(deadline);
      clearTimeout(giveUp);
      job.cancel?.removeEventListener('abort', cancel);
      box.close();
    }
    job.timer?.mark('box');
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
    const result: RunResult = {
      exitCode,
      stopReason,
      durationMs,
      outputJson,
      outputStatus,
      stdout: decoder.stdout.text(),
      stderr: decoder.stderr.text() + stopNotice(stopReason, job),
      stdoutTruncated: decoder.stdout.truncated,
      stderrTruncated: decoder.stderr.truncated,
      // what it wrote is its own only when it ended by itself (a stopped box sent none anyway)
      ...(stopReason === 'exited' && decoder.files.length ? { files: decoder.files } : {}),
      ...(stopReason === 'exited' && decoder.filesTruncated ? { filesTruncated: true } : {}),
    };
    job.timer?.mark('decode');
    return result;
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
