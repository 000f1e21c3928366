import Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import type { Duplex } from 'node:stream';
import { AppError } from '../errors.js';
import { BOOT_LABEL, INSTANCE_LABEL, MANAGED_LABEL } from './container-spec.js';
import { DockerTimeout, retryRemoval, timed } from './docker-deadline.js';
import { createDockerImages, type DockerImages } from './docker-images.js';
import { createSandboxHandle, type SandboxHandle } from './sandbox-handle.js';

export type { SandboxHandle } from './sandbox-handle.js';

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
      return createSandboxHandle(docker, container, stream);
    } catch (error) {
      stream?.destroy();
      // (the engine may be what failed: then the removal is tried again as it comes back)
      if (container) void container.remove({ force: true }).catch(() => retryRemoval(container!));
      // a create that answers after its deadline made a container nobody will use: remove it then
      else void creating.then((late) => late.remove({ force: true })).catch(() => {});
      throw toUnavailable(error, spec.Image);
    }
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
