import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { AllowRule } from '../egress/host-rules.js';
import type { EgressProxy } from '../egress/proxy.js';
import type { Runtime } from '../runtimes/registry.js';
import { buildContainerSpec, sandboxLimits } from './container-spec.js';
import type { DockerClient, SandboxHandle } from './docker.js';
import { FrameDecoder } from './output.js';
import type { Pool } from './pool.js';
import { createTunnel } from './tunnel.js';

export type Mode = 'function' | 'script';

/** One execution, validated and resolved by the API layer. */
export interface Job {
  runtime: Runtime;
  mode: Mode;
  code: string;
  input?: unknown;
  env: Record<string, string>;
  files: { path: string; contents: string }[];
  /** Hosts the code may reach through the egress proxy, with their credentials (which stay in kiln). */
  allow: AllowRule[];
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
  /** Function mode: the return value as JSON text, exactly as the code produced it (big integers intact). */
  outputJson: string | null;
  outputStatus: OutputStatus;
}

export type RunJob = (job: Job) => Promise<RunResult>;

/**
 * After its exit frame the wrapper ends its box by itself (PID 1 exits, the kernel ends the rest).
 * Removing a stopped container costs the engine about a third of the CPU of killing a running one,
 * so removal waits for that, this long at most; a box still running then is killed.
 */
const STOP_GRACE_MS = 2000;

/** Resolves when the box's streams close (it stopped), or after `ms`. */
function untilStopped(sandbox: SandboxHandle, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    sandbox.onClose(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Runs each job in its own fresh container: create → attach → start → deliver → collect → remove. */
export function createRunner(deps: {
  docker: DockerClient;
  config: Config;
  log: Logger;
  boot: string;
  egress: EgressProxy;
  caPem: string;
  /** Warm sandboxes; a job whose image and memory no pool serves gets a fresh container. */
  pool?: Pool;
}) {
  const { docker, config, log } = deps;
  const removals = new Set<Promise<void>>();

  async function run(job: Job): Promise<RunResult> {
    const id = newId('exec');
    let request: string;
    try {
      request = JSON.stringify({
        mode: job.mode, language: job.runtime.language, code: job.code, input: job.input ?? null,
        env: job.env, files: job.files, args: job.args, stdin: job.stdin, deadline_ms: job.timeoutMs,
      }) + '\n';
    } catch {
      throw new AppError('BAD_REQUEST', 'input: nested too deeply to serialize', [{ field: 'input', reason: 'too_deep' }]);
    }
    // A warm container when a pool serves this language at exactly this memory limit (never a looser one).
    const poolClass = deps.pool?.classFor(job.runtime.language, job.memoryMiB);
    const sandbox = poolClass
      ? await deps.pool!.acquire(poolClass)
      : await docker.startSandbox(
          buildContainerSpec({
            image: job.runtime.image,
            instance: config.KILN_INSTANCE,
            boot: deps.boot,
            caPem: deps.caPem,
            labels: { 'kiln.execution': id, 'kiln.language': job.runtime.language },
            limits: sandboxLimits(config, job.memoryMiB),
          }),
        );
    log.debug({ execution: id, container: sandbox.id, pooled: !!poolClass }, 'sandbox assigned');
    try {
      return await drive(sandbox, id, job, request);
    } finally {
      // Removal and refill are cleanup, not part of the answer: they start once the answer is on its way
      // (their Docker requests would otherwise delay it), and shutdown waits for the removal.
      const removal = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => {
          if (poolClass) deps.pool!.replenish();
          return untilStopped(sandbox, STOP_GRACE_MS);
        })
        .then(() => sandbox.remove())
        .catch((err) => log.warn({ err, container: sandbox.id }, 'could not remove sandbox'))
        .finally(() => removals.delete(removal));
      removals.add(removal);
    }
  }

  async function drive(sandbox: SandboxHandle, id: string, job: Job, request: string): Promise<RunResult> {
    // Connections the code opens to its in-box proxy port arrive here, bound to this execution's allow-list.
    const session = { executionId: id, rules: job.allow };
    // A box that does not read what kiln sends it must not fill kiln's memory: past the bound, its
    // tunnelled connections are closed and nothing more is sent to them.
    let overflowed = false;
    const tunnel = createTunnel({
      send: (frame) => {
        if (overflowed) return;
        if (sandbox.pendingBytes() <= 32 * 1024 * 1024) return sandbox.send(frame);
        overflowed = true;
        tunnel.closeAll();
      },
      open: (channel) => deps.egress.serve(channel, session),
      maxChannels: config.KILN_EGRESS_MAX_CONNECTIONS,
    });
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
    try {
      sandbox.send(request);
      await Promise.race([ended, exited]);
    } finally {
      clearTimeout(deadline);
      clearTimeout(giveUp);
      tunnel.closeAll();
      deps.egress.end(session);
    }
    const durationMs = Math.round(performance.now() - started);

    let exitCode: number;
    let stopReason: StopReason;
    // A deadline that fired after the wrapper reported the exit changed nothing: the run had finished.
    if (decoder.exit && (stopped === null || stopped === 'timeout')) {
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
    const { outputJson, outputStatus } = job.mode === 'function' && stopReason === 'exited' ? readResult(decoder.result) : { outputJson: null, outputStatus: 'error' as const };
    return {
      id, exitCode, stopReason, durationMs, outputJson, outputStatus,
      stdout: decoder.stdout.text(),
      stderr: decoder.stderr.text() + stopNotice(stopReason, job),
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
    default:
      return '';
  }
}
