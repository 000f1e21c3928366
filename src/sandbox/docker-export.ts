import type Docker from 'dockerode';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { SANDBOX_USER } from './container-spec.js';

type Timed = <T>(what: string, ms: number, call: Promise<T>) => Promise<T>;

/**
 * A tar stream of `path` inside a running box, read by the box's own `tar` as the sandbox user:
 * `docker cp` and the archive API cannot see a tmpfs, which is where a build installs. The stream
 * errors when tar fails (with what it printed), and ends when tar ends well.
 */
export async function exportTar(docker: Docker, container: Docker.Container, path: string, timed: Timed): Promise<Readable> {
  const exec = await timed(
    'exec',
    10_000,
    container.exec({ Cmd: ['/bin/tar', '-cf', '-', '-C', path, '.'], User: SANDBOX_USER, AttachStdout: true, AttachStderr: true }),
  );
  const raw = (await timed('exec start', 10_000, exec.start({ hijack: true, stdin: false }))) as unknown as Duplex;
  const out = new PassThrough();
  let errors = '';
  const stderr = new Writable({
    write: (chunk: Buffer, _e, done) => {
      errors = (errors + chunk.toString()).slice(-2000);
      done();
    },
  });
  docker.modem.demuxStream(raw, out, stderr);
  raw.on('error', (error) => out.destroy(error));
  raw.on('end', () => {
    void exec.inspect().then(
      (info) => (info.ExitCode ? out.destroy(new Error(`tar exited with ${info.ExitCode}: ${errors.trim()}`)) : out.end()),
      (error: Error) => out.destroy(error),
    );
  });
  return out;
}

/**
 * Docker's multiplexed exec stream (8-byte frame headers: stream, size) split into stdout and
 * stderr, pausing the socket while stdout's reader is behind: docker-modem's demuxStream writes
 * whatever arrives, so a file read out of a box faster than its HTTP client takes it would pile up
 * in kiln's memory.
 */
function demuxWithBackpressure(raw: Duplex, stdout: PassThrough, stderr: Writable): void {
  let pending: Buffer = Buffer.alloc(0);
  raw.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let behind = false;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      if (pending[0] === 2) stderr.write(payload);
      else behind = !stdout.write(payload) || behind;
      pending = pending.subarray(8 + size);
    }
    if (behind) {
      raw.pause();
      stdout.once('drain', () => raw.resume());
    }
  });
}

/** A process run in a box by `execIn`: its stdout as it comes, and how it ended. */
export interface BoxProcess {
  stdout: Readable;
  /** Its exit code and the end of what it printed on stderr, once it has ended. */
  ended: Promise<{ exitCode: number; stderr: string }>;
}

/**
 * Runs `argv` in a running box as the sandbox user (no privileges, the box's limits), with `stdin`
 * streamed in when given: its stdout streams out (nothing is buffered whole on either side).
 */
export async function execIn(container: Docker.Container, argv: string[], stdin: Readable | null, timed: Timed): Promise<BoxProcess> {
  const exec = await timed(
    'exec',
    10_000,
    container.exec({ Cmd: argv, User: SANDBOX_USER, AttachStdin: !!stdin, AttachStdout: true, AttachStderr: true, WorkingDir: '/mnt/req' }),
  );
  const raw = (await timed('exec start', 10_000, exec.start({ hijack: true, stdin: !!stdin }))) as unknown as Duplex;
  const stdout = new PassThrough();
  let errors = '';
  const stderr = new Writable({
    write: (chunk: Buffer, _e, done) => {
      errors = (errors + chunk.toString()).slice(-2000);
      done();
    },
  });
  demuxWithBackpressure(raw, stdout, stderr);
  if (stdin) {
    stdin.on('data', (chunk: Buffer) => {
      if (!raw.write(chunk)) stdin.pause();
    });
    raw.on('drain', () => stdin.resume());
    // the end of the upload: half-close, so the process reads EOF and may still answer
    stdin.on('end', () => (raw as unknown as { end(): void }).end());
    stdin.on('error', () => raw.destroy());
    // failed (a client gone mid-upload) while the exec was being made: its error came before this listener
    if (stdin.destroyed || stdin.errored) raw.destroy();
  }
  const ended = new Promise<{ exitCode: number; stderr: string }>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      stdout.end();
      exec.inspect().then((info) => resolve({ exitCode: info.ExitCode ?? -1, stderr: errors }), reject);
    };
    raw.on('end', finish);
    raw.on('close', finish);
    raw.on('error', (error) => {
      stdout.destroy(error);
      reject(error);
    });
  });
  ended.catch(() => {});
  return { stdout, ended };
}
