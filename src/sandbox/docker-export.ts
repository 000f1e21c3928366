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
