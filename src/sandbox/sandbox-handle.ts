import type Docker from 'dockerode';
import { type Duplex, type Readable, Writable } from 'node:stream';
import { type BoxProcess, execIn, exportTar } from './docker-export.js';
import { retryRemoval, timed } from './docker-deadline.js';

/** A started sandbox container: its stdin, its demultiplexed output, and how to end it. */
export interface SandboxHandle {
  id: string;
  /** Writes to the wrapper's stdin. */
  send(data: string | Buffer): void;
  /** Bytes written to stdin that the container has not taken yet. */
  pendingBytes(): number;
  /** Calls back with stdout / stderr bytes (from the first byte on); resolves when the container's streams end. */
  pipe(onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<void>;
  /**
   * Resolves once the wrapper says its harness is warm and waiting (its first frame, `k`); rejects
   * if the box ends first or that frame has not come within `ms` (the error quotes what it printed).
   */
  ready(ms: number): Promise<void>;
  kill(): Promise<void>;
  /** Calls back once the container's streams close: it has died or been removed. */
  onClose(callback: () => void): void;
  /** False once its streams have closed. */
  alive(): boolean;
  /** Exit code and OOM flag as Docker recorded them, once the container has stopped. */
  state(): Promise<{ exitCode: number; oomKilled: boolean }>;
  remove(): Promise<void>;
  /**
   * A tar stream of `path` inside the running box, read by `tar` as the sandbox user (`docker cp`
   * cannot see a tmpfs). Ends when the tar does; errors if it fails.
   */
  exportTar(path: string): Promise<Readable>;
  /** Runs `argv` in the box as the sandbox user, `stdin` streamed in (a session's file transfers). */
  exec(argv: string[], stdin: Readable | null): Promise<BoxProcess>;
}

const sink = (fn: (b: Buffer) => void) =>
  new Writable({
    write: (chunk: Buffer, _e, done) => {
      fn(chunk);
      done();
    },
  });

/**
 * A box's output from its first byte: what comes before pipe() (the ready frame, or a crash's
 * message) is kept and handed over first, in order; the ready frame is spotted on the way.
 */
function tapOutput(docker: Docker, stream: Duplex) {
  const early: [stdout: boolean, chunk: Buffer][] = [];
  let forward: ((stdout: boolean, chunk: Buffer) => void) | null = null;
  let head = Buffer.alloc(0);
  const tap = {
    readySeen: false,
    readyWaiters: new Set<() => void>(),
    ended: false,
    ends: new Set<() => void>(),
    pipe: (onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void) =>
      new Promise<void>((resolve) => {
        forward = (stdout, chunk) => (stdout ? onStdout : onStderr)(chunk);
        for (const [stdout, chunk] of early.splice(0)) forward(stdout, chunk);
        if (tap.ended) return resolve();
        tap.ends.add(resolve);
      }),
    /** What the box said on stderr before pipe(): the reason it failed, for the log. */
    said() {
      const text = Buffer.concat(early.filter(([stdout]) => !stdout).map(([, chunk]) => chunk))
        .toString('utf8')
        .trim();
      return text ? `: ${text.slice(-500)}` : '';
    },
  };
  const take = (stdout: boolean) => (chunk: Buffer) => {
    if (forward) return forward(stdout, chunk);
    early.push([stdout, chunk]);
    if (stdout && !tap.readySeen && head.length < 5) {
      head = Buffer.concat([head, chunk]);
      if (head.length >= 5 && head[0] === 0x6b /* k */ && head.readUInt32BE(1) === 0) {
        tap.readySeen = true;
        for (const waiter of tap.readyWaiters) waiter();
      }
    }
  };
  docker.modem.demuxStream(stream, sink(take(true)), sink(take(false)));
  const end = () => {
    tap.ended = true;
    for (const callback of tap.ends) callback();
  };
  stream.on('error', end);
  stream.on('close', end);
  stream.on('end', end);
  return tap;
}

/** The handle of a container that is attached (`stream`) and started. */
export function createSandboxHandle(docker: Docker, container: Docker.Container, stream: Duplex): SandboxHandle {
  const tap = tapOutput(docker, stream);
  return {
    id: container.id,
    send: (data) => void stream.write(data),
    pendingBytes: () => stream.writableLength,
    pipe: tap.pipe,
    ready: (ms) =>
      new Promise<void>((resolve, reject) => {
        if (tap.readySeen) return resolve();
        if (tap.ended) return reject(new Error('the sandbox ended before its harness was ready'));
        const done = (error?: Error) => {
          clearTimeout(timer);
          tap.readyWaiters.delete(onReady);
          tap.ends.delete(onEnd);
          if (error) reject(error);
          else resolve();
        };
        const onReady = () => done();
        const onEnd = () => done(new Error(`the sandbox ended before its harness was ready${tap.said()}`));
        const timer = setTimeout(() => done(new Error(`the sandbox's harness was not ready within ${ms} ms${tap.said()}`)), ms);
        tap.readyWaiters.add(onReady);
        tap.ends.add(onEnd);
      }),
    alive: () => !tap.ended,
    onClose: (callback) => {
      if (tap.ended) return callback();
      tap.ends.add(callback);
    },
    kill: async () => {
      // Once the box is dead its stream must end; never let a stuck socket or engine hold the request.
      setTimeout(() => stream.destroy(), 3000).unref();
      await timed('kill', 5000, container.kill({ signal: 'SIGKILL' })).catch(() => {});
    },
    state: async () => {
      await timed('wait', 5000, container.wait()).catch(() => {});
      const info = await timed('inspect', 5000, container.inspect());
      return { exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
    },
    exportTar: (path) => exportTar(docker, container, path, timed),
    exec: (argv, stdin) => execIn(container, argv, stdin, timed),
    remove: async () => {
      stream.destroy();
      try {
        await timed('remove', 30_000, container.remove({ force: true }));
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return; // already gone
        // Docker was away (restarting, say): try again later, in the background, so no box is left behind
        retryRemoval(container);
        throw error;
      }
    },
  };
}
