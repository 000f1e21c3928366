import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { newId } from '../ids.js';
import type { Runtime } from '../runtimes/registry.js';
import { transpileTypeScript } from '../runtimes/typescript.js';
import { buildContainerSpec } from './container-spec.js';
import type { DockerClient, SandboxHandle } from './docker.js';
import { FrameDecoder } from './output.js';

export type Mode = 'function' | 'script';

/** One execution, validated and resolved by the API layer. */
export interface Job {
  runtime: Runtime;
  mode: Mode;
  code: string;
  input?: unknown;
  env: Record<string, string>;
  files: { path: string; contents: string }[];
  args: string[];
  stdin: string;
  timeoutMs: number;
  memoryMiB: number;
}

/** Why the run ended: by itself, or stopped from outside for breaking a limit. */
export type StopReason = 'exited' | 'timeout' | 'out_of_memory' | 'output_limit' | 'sandbox_error';
export type OutputStatus = 'valid' | 'json_serialization_error' | 'error';

export interface RunResult {
  id: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stopReason: StopReason;
  durationMs: number;
  /** Function mode only. */
  output: unknown;
  outputStatus: OutputStatus;
}

export type RunJob = (job: Job) => Promise<RunResult>;

/** Runs each job in its own fresh container: create → attach → start → deliver → collect → remove. */
export function createRunner(deps: { docker: DockerClient; config: Config; log: Logger }) {
  const { docker, config, log } = deps;
  const removals = new Set<Promise<void>>();

  async function run(job: Job): Promise<RunResult> {
    const id = newId('exec');
    let code = job.code;
    if (job.runtime.transpile === 'typescript') {
      const transpiled = await transpileTypeScript(code);
      if (!transpiled.ok) return failedBeforeStart(id, transpiled.error);
      code = transpiled.code;
    }
    const spec = buildContainerSpec({
      image: job.runtime.image,
      instance: config.KILN_INSTANCE,
      labels: { 'kiln.execution': id, 'kiln.language': job.runtime.language },
      limits: {
        memoryMiB: job.memoryMiB,
        cpus: config.KILN_CPUS,
        pidsLimit: config.KILN_PIDS_LIMIT,
        tmpfsMiB: config.KILN_TMPFS_MIB,
      },
    });
    const sandbox = await docker.startSandbox(spec);
    try {
      return await drive(sandbox, id, { ...job, code });
    } finally {
      // Removal is cleanup, not part of the answer: it runs after, but shutdown waits for it.
      const removal = sandbox
        .remove()
        .catch((err) => log.warn({ err, container: sandbox.id }, 'could not remove sandbox'))
        .finally(() => removals.delete(removal));
      removals.add(removal);
    }
  }

  async function drive(sandbox: SandboxHandle, id: string, job: Job): Promise<RunResult> {
    const decoder = new FrameDecoder({ streamBytes: config.KILN_OUTPUT_LIMIT_BYTES, resultBytes: config.KILN_RESULT_LIMIT_BYTES });
    let stopped: StopReason | null = null;
    const stop = (reason: StopReason) => {
      if (stopped) return;
      stopped = reason;
      void sandbox.kill();
    };
    const request = { mode: job.mode, code: job.code, input: job.input ?? null, env: job.env, files: job.files, args: job.args, stdin: job.stdin };
    const started = performance.now();
    const ended = sandbox.pipe(
      (chunk) => {
        decoder.push(chunk);
        if (decoder.violation) stop(decoder.violation === 'output_limit' ? 'output_limit' : 'sandbox_error');
      },
      (chunk) => decoder.pushWrapperStderr(chunk),
    );
    // The host-side deadline: whatever the code does, the box dies at its limit.
    const deadline = setTimeout(() => stop('timeout'), job.timeoutMs);
    sandbox.send(JSON.stringify(request) + '\n');
    await ended;
    clearTimeout(deadline);
    const durationMs = Math.round(performance.now() - started);

    let exitCode: number;
    let stopReason: StopReason = stopped ?? 'exited';
    if (stopped) exitCode = 137;
    else if (decoder.exit) {
      exitCode = decoder.exit.exit_code;
      if (decoder.exit.oom) stopReason = 'out_of_memory';
    } else {
      // The wrapper itself died (killed by the OOM killer, or by the code): ask Docker why.
      const state = await sandbox.state().catch(() => ({ exitCode: 137, oomKilled: false }));
      exitCode = state.exitCode || 1;
      stopReason = state.oomKilled ? 'out_of_memory' : 'sandbox_error';
    }
    let output: unknown = null;
    let outputStatus: OutputStatus = 'error';
    if (job.mode === 'function' && stopReason === 'exited' && decoder.result) {
      try {
        const result = JSON.parse(decoder.result.toString('utf8')) as { status: string; output?: unknown };
        if (result.status === 'valid') [output, outputStatus] = [result.output ?? null, 'valid'];
        else if (result.status === 'json_serialization_error') outputStatus = 'json_serialization_error';
      } catch {
        outputStatus = 'error';
      }
    }
    const stderr = decoder.stderr.text() + stopNotice(stopReason, job);
    return {
      id, exitCode, stopReason, durationMs, output, outputStatus,
      stdout: decoder.stdout.text(),
      stderr,
      stdoutTruncated: decoder.stdout.truncated,
      stderrTruncated: decoder.stderr.truncated,
    };
  }

  return {
    run,
    /** Resolves when every container this runner started has been removed. */
    settled: () => Promise.all([...removals]).then(() => undefined),
  };
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
    default:
      return '';
  }
}

function failedBeforeStart(id: string, stderr: string): RunResult {
  return {
    id, exitCode: 1, stdout: '', stderr, stdoutTruncated: false, stderrTruncated: false,
    stopReason: 'exited', durationMs: 0, output: null, outputStatus: 'error',
  };
}
