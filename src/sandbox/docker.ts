import Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import { Writable, type Duplex } from 'node:stream';
import { AppError } from '../errors.js';
import { INSTANCE_LABEL, MANAGED_LABEL } from './container-spec.js';

/** A started sandbox container: its stdin, its demultiplexed output, and how to end it. */
export interface SandboxHandle {
  id: string;
  /** Writes to the wrapper's stdin. */
  send(data: string): void;
  /** Calls back with stdout / stderr bytes; resolves when the container's streams end. */
  pipe(onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<void>;
  kill(): Promise<void>;
  /** Exit code and OOM flag as Docker recorded them. */
  state(): Promise<{ exitCode: number; oomKilled: boolean }>;
  remove(): Promise<void>;
}

/** The narrow slice of Docker that kiln uses; the only module that imports dockerode. */
export interface DockerClient {
  ping(): Promise<void>;
  missingImages(images: string[]): Promise<string[]>;
  startSandbox(spec: ContainerCreateOptions): Promise<SandboxHandle>;
  removeInstanceContainers(instance: string): Promise<number>;
}

/** Parses `unix:///path` or `tcp://host:port` (DOCKER_HOST's forms) into dockerode options. */
export function dockerOptions(endpoint: string | undefined): Docker.DockerOptions {
  if (!endpoint) return { socketPath: '/var/run/docker.sock' };
  const url = new URL(endpoint);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'tcp:' || url.protocol === 'http:')
    return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
  throw new Error(`unsupported Docker endpoint ${endpoint}: use unix:///path or tcp://host:port`);
}

/** Turns a Docker failure into the 503 a client should see; the detail goes to the log by the caller. */
export function toUnavailable(error: unknown, image?: string): AppError {
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 404 && image && /image/i.test(e.message ?? ''))
    return new AppError('SANDBOX_UNAVAILABLE', `sandbox image ${image} is missing: run \`npm run images\``, [
      { reason: 'image_missing' },
    ]);
  if (e.code && ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code))
    return new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine is unreachable; retry when it is back', [
      { reason: 'docker_unreachable' },
    ]);
  return new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine refused to start a sandbox; retry later', [
    { reason: 'docker_error' },
  ]);
}

export function createDockerClient(endpoint: string | undefined): DockerClient {
  const docker = new Docker(dockerOptions(endpoint));

  async function startSandbox(spec: ContainerCreateOptions): Promise<SandboxHandle> {
    let container: Docker.Container | undefined;
    try {
      container = await docker.createContainer(spec);
      // Attach before start, so that no byte the wrapper writes is missed.
      const stream = (await container.attach({
        stream: true, stdin: true, stdout: true, stderr: true, hijack: true,
      })) as unknown as Duplex;
      await container.start();
      return handle(container, stream);
    } catch (error) {
      if (container) await container.remove({ force: true }).catch(() => {});
      throw toUnavailable(error, spec.Image);
    }
  }

  function handle(container: Docker.Container, stream: Duplex): SandboxHandle {
    const sink = (fn: (b: Buffer) => void) => new Writable({ write: (chunk: Buffer, _e, done) => (fn(chunk), done()) });
    return {
      id: container.id,
      send: (data) => void stream.write(data),
      pipe: (onStdout, onStderr) =>
        new Promise<void>((resolve) => {
          docker.modem.demuxStream(stream, sink(onStdout), sink(onStderr));
          stream.on('error', () => resolve());
          stream.on('close', () => resolve());
          stream.on('end', () => resolve());
        }),
      kill: async () => {
        await container.kill({ signal: 'SIGKILL' }).catch(() => {});
        // Once the box is dead its stream must end; never let a stuck socket hold the request.
        setTimeout(() => stream.destroy(), 3000).unref();
      },
      state: async () => {
        const info = await container.inspect();
        return { exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
      },
      remove: async () => {
        stream.destroy();
        await container.remove({ force: true });
      },
    };
  }

  return {
    ping: async () => {
      await docker.ping();
    },
    missingImages: async (images) => {
      const missing: string[] = [];
      for (const image of images) {
        try {
          await docker.getImage(image).inspect();
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode === 404) missing.push(image);
          else throw error;
        }
      }
      return missing;
    },
    startSandbox,
    removeInstanceContainers: async (instance) => {
      const list = await docker.listContainers({
        all: true,
        filters: { label: [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${instance}`] },
      });
      await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
      return list.length;
    },
  };
}
