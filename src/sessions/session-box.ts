/**
 * kiln's side of a session box (src/sandbox/box-protocol.ts, session mode): one call at a time,
 * each with its own output caps and deadline; the box's tunnelled connections under the session's
 * egress rules for as long as it lives; and its end, reported once.
 */
import type { EgressProxy, EgressSession } from '../egress/proxy.js';
import { AppError } from '../errors.js';
import { encodeFrame } from '../sandbox/box-protocol.js';
import { encodeSessionStart } from '../sandbox/box-request.js';
import { openBoxSession } from '../sandbox/box-session.js';
import { CappedBuffer, type ExitStatus, type OutputLimits } from '../sandbox/frame-decoder.js';
import type { SandboxHandle } from '../sandbox/docker.js';
import type { RunStream } from '../sandbox/job.js';
import { type BoxProcess, createBoxProcesses, type ProcessSpec } from './box-processes.js';

/** How a call ended: the harness answered; the harness died (its state is lost, a fresh one follows); or the box is gone. */
export type CallEnd =
  | { kind: 'answered'; outcome: Record<string, unknown> }
  | { kind: 'harness_ended'; exit: ExitStatus }
  | { kind: 'box_ended' };

export interface CallOutcome {
  end: CallEnd;
  /** Why kiln stopped the call, if it did: its deadline passed, or its output passed the cap. */
  stopped: 'timeout' | 'output_limit' | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  /** The harness had been restarted since the call before (its state was lost then). */
  restarted: boolean;
}

/** A display the harness says as it happens ({"display": bundle}), not a call's answer. */
const isDisplay = (o: Record<string, unknown>): o is { display: Record<string, unknown> } =>
  Object.keys(o).length === 1 && typeof o.display === 'object' && o.display !== null && !Array.isArray(o.display);

/** After an interrupt (SIGINT) a call gets this long to end by itself before its harness is killed. */
const INTERRUPT_GRACE_MS = 2000;
/** How long a fresh harness may take to say it is ready. */
const READY_MS = 30_000;

interface Current {
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  stream?: RunStream;
  /** The bytes of the displays streamed so far: no more than an answer's worth. */
  displayed: number;
  stopped: CallOutcome['stopped'];
  done(end: CallEnd): void;
}

export interface SessionBoxOptions {
  limits: OutputLimits;
  egress: { proxy: Pick<EgressProxy, 'serve' | 'end'>; session: EgressSession; maxConnections: number };
  /** The box ended (it died, or was killed): called once, with what is known of why. */
  onEnd(detail: string): void;
}

export type SessionBox = Awaited<ReturnType<typeof startSessionBox>>;

/** Starts session mode in a warm box and resolves once its harness is ready; throws a 503 if it never is. */
export async function startSessionBox(sandbox: SandboxHandle, start: Parameters<typeof encodeSessionStart>[0], opts: SessionBoxOptions) {
  let current: Current | null = null;
  let ended = false;
  let restarted = false;
  let markReady!: () => void;
  let ready = new Promise<void>((resolve) => (markReady = resolve));
  let queue: Promise<unknown> = Promise.resolve();

  const kill = () => void sandbox.kill();
  /** The running call, taken off at once: a ready frame in the same chunk must not be taken for its answer. */
  const endCall = (end: CallEnd): boolean => {
    const call = current;
    current = null;
    call?.done(end);
    return call !== null;
  };
  const processes = createBoxProcesses((frame) => box.send(frame));
  const box = openBoxSession(sandbox, {
    limits: opts.limits,
    egress: opts.egress,
    onOutput: (kind, data) => {
      if (!current) return; // what a background thread prints between calls belongs to no call
      const buffer = kind === 'o' ? current.stdout : current.stderr;
      const kept = Math.min(data.length, buffer.room());
      if (current.stream && kept) current.stream.output(kind === 'o' ? 'stdout' : 'stderr', data.subarray(0, kept));
      if (!buffer.append(data) && !current.stopped) {
        current.stopped = 'output_limit';
        sandbox.send(encodeFrame('z', Buffer.alloc(0)));
      }
    },
    onViolation: kill,
    onSession: {
      result(payload) {
        let outcome: Record<string, unknown>;
        try {
          outcome = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
        } catch {
          return kill(); // the wrapper forwards only what the harness framed: not JSON is a broken box
        }
        if (isDisplay(outcome)) {
          // shown during a call, before its answer (which holds it too); one that outlived its call is dropped
          const call = current;
          if (!call?.stream?.display) return;
          call.displayed += payload.length;
          if (call.displayed <= opts.limits.resultBytes) call.stream.display(outcome.display);
          return;
        }
        // no call running: the first harness's, or a fresh one's ready, for the next call
        if (!endCall({ kind: 'answered', outcome })) markReady();
      },
      process: (kind, id, data) => processes.onFrame(kind, id, data),
      harnessEnded(exit) {
        restarted = true;
        ready = new Promise<void>((resolve) => (markReady = resolve));
        endCall({ kind: 'harness_ended', exit });
      },
    },
  });
  const finish = (detail: string) => {
    if (ended) return;
    ended = true;
    box.close();
    endCall({ kind: 'box_ended' });
    processes.endAll();
    markReady();
    opts.onEnd(detail);
  };
  void box.exited.then(() => {
    const exit = box.decoder.exit;
    finish(exit?.oom ? 'the box ran out of memory' : `the box ended (exit status ${exit?.exit_code})`);
  });
  void box.ended.then(async () => {
    const state = await sandbox.state().catch(() => null);
    finish(state?.oomKilled ? 'the box ran out of memory' : `the box ended (exit status ${state?.exitCode ?? 'unknown'})`);
  });

  box.send(encodeSessionStart(start));
  const timer = setTimeout(() => finish('the session box was not ready in time'), READY_MS);
  await ready;
  clearTimeout(timer);
  if (ended)
    throw new AppError('SANDBOX_UNAVAILABLE', 'the session box ended before it was ready; retry', [{ reason: 'session_start_failed' }]);

  /** One call: sent once the harness is ready and the call before has ended. */
  async function callNow(op: Record<string, unknown>, timeoutMs: number, stream?: RunStream): Promise<CallOutcome> {
    await ready;
    const wasRestarted = restarted;
    restarted = false;
    const started = performance.now();
    const stdout = new CappedBuffer(opts.limits.streamBytes);
    const stderr = new CappedBuffer(opts.limits.streamBytes);
    let interrupt: NodeJS.Timeout | undefined;
    let killAfter: NodeJS.Timeout | undefined;
    const call: Current = { stdout, stderr, stream, displayed: 0, stopped: null, done: () => {} };
    const end = await new Promise<CallEnd>((resolve) => {
      if (ended) return resolve({ kind: 'box_ended' });
      call.done = resolve;
      current = call;
      box.send(encodeFrame('q', Buffer.from(JSON.stringify(op))));
      // the deadline: an interrupt first (Python keeps its state), then the harness killed
      interrupt = setTimeout(() => {
        call.stopped ??= 'timeout';
        sandbox.send(encodeFrame('i', Buffer.alloc(0)));
        killAfter = setTimeout(() => sandbox.send(encodeFrame('z', Buffer.alloc(0))), INTERRUPT_GRACE_MS);
      }, timeoutMs);
    });
    clearTimeout(interrupt);
    clearTimeout(killAfter);
    return {
      end,
      stopped: call.stopped,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      durationMs: Math.round(performance.now() - started),
      restarted: wasRestarted,
    };
  }

  return {
    /** Runs one call (an execute, a command, a context's creation): calls of a session never overlap. */
    call(op: Record<string, unknown>, timeoutMs: number, stream?: RunStream): Promise<CallOutcome> {
      const next = queue.then(() => callNow(op, timeoutMs, stream));
      queue = next.catch(() => {});
      return next;
    },
    /** A process beside the calls (./box-processes.ts): it runs at once with them. */
    spawn(spec: ProcessSpec, output: (stream: 'stdout' | 'stderr', data: Buffer) => void): Promise<BoxProcess> {
      if (ended) return Promise.reject(new Error('the box ended'));
      return processes.spawn(spec, output);
    },
    alive: () => !ended,
    /** Ends the box (the caller removes it). */
    stop(): void {
      if (ended) return;
      kill();
    },
  };
}
