import Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import { Writable, type Duplex, type Readable } from 'node:stream';
import { AppError } from '../errors.js';
import { BOOT_LABEL, INSTANCE_LABEL, MANAGED_LABEL } from './container-spec.js';
import { createDockerImages, type DockerImages } from './docker-images.js';
import { exportTar } from './docker-export.js';

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
}

/** The narrow slice of Docker that kiln uses; the only module that imports dockerode. */
export interface DockerClient {
  ping(): Promise<void>;
  missingImages(images: string[]): Promise<string[]>;
  /** The OCI runtimes registered with the engine (`runc`, and `runsc` once gVisor is set up), with the arguments each is run with. */
  runtimes(): Promise<Record<string, string[]>>;
  startSandbox(spec: ContainerCreateOptions): Promise<SandboxHandle>;
  /**
   * Removes the containers of this instance that an earlier boot (a crashed run) left; and, given
   * `outageSince` (unix seconds), this boot's that an engine outage ended: stopped ones, and ones
   * created before it that never started.
   */
  removeLeftovers(instance: string, boot: string, outageSince?: number): Promise<number>;
  images: DockerImages;
}

/** PEM contents for an engine reached over TCP with TLS (client certificate: `--tlsverify` engines). */
export interface DockerTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** Parses `unix:///path` or `tcp://host:port` (DOCKER_HOST's forms) into dockerode options; TLS given, https. */
export function dockerOptions(endpoint: string | undefined, tls?: DockerTls): Docker.DockerOptions {
  if (!endpoint) return { socketPath: '/var/run/docker.sock' };
  const url = new URL(endpoint);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  // Docker's own convention: 2376 is the TLS port, 2375 the plain one
  if (tls && (url.protocol === 'tcp:' || url.protocol === 'https:'))
    return { host: url.hostname, port: Number(url.port || 2376), protocol: 'https', ...tls };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
  throw new Error(`unsupported Docker endpoint ${endpoint}: use unix:///path or tcp://host:port`);
}

class DockerTimeout extends Error {
  constructor(what: string) {
    super(`Docker did not answer ${what} in time`);
    this.name = 'DockerTimeout';
  }
}

/** A wedged engine must not hold a request forever: every Docker call gets a deadline. */
function timed<T>(what: string, ms: number, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([call, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DockerTimeout(what)), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

/** Turns a Docker failure into the 503 a client should see; the detail goes to the log by the caller. */
export function toUnavailable(error: unknown, image?: string): AppError {
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 404 && image && /image/i.test(e.message ?? ''))
    return new AppError(
      'SANDBOX_UNAVAILABLE',
      image.startsWith('kiln-runtime:')
        ? `the image of this custom runtime revision (${image}) is not on this engine (removed outside kiln, or built on another replica's): kiln builds it here again as the next run asks for it; try again shortly`
        : `sandbox image ${image} is missing: run \`npm run images\``,
      [{ reason: 'image_missing' }],
    );
  if (error instanceof DockerTimeout)
    return new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine is not answering in time; retry later', [{ reason: 'docker_timeout' }]);
  if (e.code && ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code))
    return new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine is unreachable; retry when it is back', [
      { reason: 'docker_unreachable' },
    ]);
  return new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine refused to start a sandbox; retry later', [{ reason: 'docker_error' }]);
}

/** How long each step of starting a sandbox may take before the start counts as failed. */
export interface StartTimeouts {
  createMs: number;
  attachMs: number;
  startMs: number;
}
const START_TIMEOUTS: StartTimeouts = { createMs: 15_000, attachMs: 10_000, startMs: 15_000 };

/** A removal that failed because Docker was away (restarting, say): tried again later, in the background. */
function retryRemoval(container: Docker.Container): void {
  for (const delay of [5_000, 30_000, 120_000]) setTimeout(() => void container.remove({ force: true }).catch(() => {}), delay).unref();
}

export function createDockerClient(endpoint: string | undefined, timeouts: StartTimeouts = START_TIMEOUTS, tls?: DockerTls): DockerClient {
  const docker = new Docker(dockerOptions(endpoint, tls));

  async function startSandbox(spec: ContainerCreateOptions): Promise<SandboxHandle> {
    let container: Docker.Container | undefined;
    let stream: Duplex | undefined;
    const creating = docker.createContainer(spec);
    try {
      container = await timed('create', timeouts.createMs, creating);
      // Attach before start, so that no byte the wrapper writes is missed.
      stream = (await timed(
        'attach',
        timeouts.attachMs,
        container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
      )) as unknown as Duplex;
      // An engine reset must never surface as an uncaught 'error' event.
      stream.on('error', () => {});
      await timed('start', timeouts.startMs, container.start());
      return handle(container, stream);
    } catch (error) {
      stream?.destroy();
      // (the engine may be what failed: then the removal is tried again as it comes back)
      if (container) void container.remove({ force: true }).catch(() => retryRemoval(container!));
      // a create that answers after its deadline made a container nobody will use: remove it then
      else void creating.then((late) => late.remove({ force: true })).catch(() => {});
      throw toUnavailable(error, spec.Image);
    }
  }

  function handle(container: Docker.Container, stream: Duplex): SandboxHandle {
    const sink = (fn: (b: Buffer) => void) =>
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          fn(chunk);
          done();
        },
      });
    // The output is read from the start: what comes before pipe() (the ready frame, or a crash's
    // message) is kept and handed over first, in order.
    const early: [stdout: boolean, chunk: Buffer][] = [];
    let forward: ((stdout: boolean, chunk: Buffer) => void) | null = null;
    let head = Buffer.alloc(0);
    let readySeen = false;
    const readyWaiters = new Set<() => void>();
    const take = (stdout: boolean) => (chunk: Buffer) => {
      if (forward) return forward(stdout, chunk);
      early.push([stdout, chunk]);
      if (stdout && !readySeen && head.length < 5) {
        head = Buffer.concat([head, chunk]);
        if (head.length >= 5 && head[0] === 0x6b /* k */ && head.readUInt32BE(1) === 0) {
          readySeen = true;
          for (const waiter of readyWaiters) waiter();
        }
      }
    };
    docker.modem.demuxStream(stream, sink(take(true)), sink(take(false)));
    let ended = false;
    const ends = new Set<() => void>();
    const end = () => {
      ended = true;
      for (const callback of ends) callback();
    };
    stream.on('error', end);
    stream.on('close', end);
    stream.on('end', end);
    return {
      id: container.id,
      send: (data) => void stream.write(data),
      pendingBytes: () => stream.writableLength,
      pipe: (onStdout, onStderr) =>
        new Promise<void>((resolve) => {
          forward = (stdout, chunk) => (stdout ? onStdout : onStderr)(chunk);
          for (const [stdout, chunk] of early.splice(0)) forward(stdout, chunk);
          if (ended) return resolve();
          ends.add(resolve);
        }),
      ready: (ms) =>
        new Promise<void>((resolve, reject) => {
          if (readySeen) return resolve();
          if (ended) return reject(new Error('the sandbox ended before its harness was ready'));
          const done = (error?: Error) => {
            clearTimeout(timer);
            readyWaiters.delete(onReady);
            ends.delete(onEnd);
            if (error) reject(error);
            else resolve();
          };
          const onReady = () => done();
          // what the box said before it failed: the reason, for the log
          const said = () => {
            const text = Buffer.concat(early.filter(([stdout]) => !stdout).map(([, chunk]) => chunk))
              .toString('utf8')
              .trim();
            return text ? `: ${text.slice(-500)}` : '';
          };
          const onEnd = () => done(new Error(`the sandbox ended before its harness was ready${said()}`));
          const timer = setTimeout(() => done(new Error(`the sandbox's harness was not ready within ${ms} ms${said()}`)), ms);
          readyWaiters.add(onReady);
          ends.add(onEnd);
        }),
      alive: () => !ended,
      onClose: (callback) => {
        if (ended) return callback();
        ends.add(callback);
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

  return {
    ping: async () => {
      await timed('ping', 3000, docker.ping());
    },
    runtimes: async () => {
      const info = (await timed('info', 5000, docker.info())) as { Runtimes?: Record<string, { runtimeArgs?: string[] } | undefined> };
      return Object.fromEntries(Object.entries(info.Runtimes ?? {}).map(([name, r]) => [name, r?.runtimeArgs ?? []]));
    },
    missingImages: async (images) => {
      const missing: string[] = [];
      for (const image of images) {
        try {
          await timed('image inspect', 5000, docker.getImage(image).inspect());
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode === 404) missing.push(image);
          else throw error;
        }
      }
      return missing;
    },
    startSandbox,
    images: createDockerImages(docker),
    removeLeftovers: async (instance, boot, outageSince) => {
      const list = await timed(
        'list',
        10_000,
        docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${instance}`] } }),
      );
      // never this boot's running containers, nor a created one that may still be starting (a start
      // may take 40 s: create, attach and start each have a deadline): only one from well before the outage
      const endedByOutage = (c: Docker.ContainerInfo) =>
        outageSince !== undefined &&
        (c.State === 'exited' || c.State === 'dead' || (c.State === 'created' && c.Created < outageSince - 60));
      const stale = list.filter((c) => c.Labels[BOOT_LABEL] !== boot || endedByOutage(c));
      await Promise.all(stale.map((c) => timed('remove', 30_000, docker.getContainer(c.Id).remove({ force: true })).catch(() => {})));
      return stale.length;
    },
  };
}
