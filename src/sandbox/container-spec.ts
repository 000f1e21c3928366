import { GVISOR_SECCOMP_PROFILE } from './seccomp-gvisor.js';
import type { ContainerCreateOptions } from 'dockerode';
import type { Config } from '../config.js';

/** The uid:gid the wrapper and the user's code run as inside every sandbox. */
export const SANDBOX_USER = '10001:10001';
export const MANAGED_LABEL = 'kiln.managed';
export const INSTANCE_LABEL = 'kiln.instance';
/** A random id per start of kiln: leftovers are containers of this instance from another boot. */
export const BOOT_LABEL = 'kiln.boot';

export interface SandboxLimits {
  memoryMiB: number;
  cpus: number;
  pidsLimit: number;
  tmpfsMiB: number;
}

/** The creation-time limits of a sandbox with `memoryMiB` of memory; the rest comes from the configuration. */
export function sandboxLimits(config: Config, memoryMiB: number): SandboxLimits {
  return { memoryMiB, cpus: config.KILN_CPUS, pidsLimit: config.KILN_PIDS_LIMIT, tmpfsMiB: config.KILN_TMPFS_MIB };
}

export interface SpecInput {
  image: string;
  limits: SandboxLimits;
  instance: string;
  boot: string;
  /** kiln's egress CA certificate (public): the wrapper makes the code trust it. */
  caPem: string;
  labels?: Record<string, string>;
  /** Environment that tells the harness what to warm while it waits (the runtime's `warmEnv`). */
  warmEnv?: string[];
  /** The OCI runtime (`runc`, `runsc`); Docker's default when absent. */
  ociRuntime?: string;
}

/** Pure: the hardened container options for one sandbox. Each flag says what it defends against. */
export function buildContainerSpec({
  image,
  limits,
  instance,
  boot,
  caPem,
  labels = {},
  warmEnv = [],
  ociRuntime,
}: SpecInput): ContainerCreateOptions {
  const memory = limits.memoryMiB * 1024 * 1024;
  const tmpfs = `rw,noexec,nosuid,nodev,size=${limits.tmpfsMiB}m`;
  return {
    Image: image,
    // labels: lets kiln find and remove what a crashed instance left behind
    Labels: { ...labels, [MANAGED_LABEL]: 'true', [INSTANCE_LABEL]: instance, [BOOT_LABEL]: boot },
    // non-root: a kernel bug or a writable path is worth less without uid 0
    User: SANDBOX_USER,
    // no environment but the image's (PATH, HOME=/tmp, LANG), the egress CA's public certificate and
    // what the harness should warm, which the wrapper and harness take out before the code starts;
    // the request's env goes through the wrapper
    Env: [`KILN_EGRESS_CA=${caPem}`, ...warmEnv],
    WorkingDir: '/mnt/req',
    // the wrapper reads its one request from stdin; stdout carries its frames
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    // no network at all: no interface but loopback
    NetworkDisabled: true,
    HostConfig: {
      // runsc (gVisor): the box's system calls go to a user-space kernel, not the host's
      ...(ociRuntime ? { Runtime: ociRuntime } : {}),
      NetworkMode: 'none',
      // read-only root: the code cannot change the image, plant binaries or fill the host's disk
      ReadonlyRootfs: true,
      // size-capped tmpfs, noexec: scratch space that dies with the box and runs no dropped binaries
      Tmpfs: { '/tmp': `${tmpfs},mode=1777`, '/mnt/req': `${tmpfs},mode=0755,uid=10001,gid=10001` },
      // no capabilities: no raw sockets, no mounts, no chown, no ptrace of others
      CapDrop: ['ALL'],
      // no setuid escalation; seccomp: Docker's default profile (never "unconfined"), and under gVisor
      // kiln's own, which runsc --oci-seccomp applies inside its kernel (see seccomp-gvisor.ts)
      SecurityOpt: ociRuntime === 'runsc' ? ['no-new-privileges', `seccomp=${GVISOR_SECCOMP_PROFILE}`] : ['no-new-privileges'],
      Privileged: false,
      // pids limit: stops fork bombs
      PidsLimit: limits.pidsLimit,
      // memory limit with swap equal to it: the limit is real and an overrun is an OOM kill
      Memory: memory,
      MemorySwap: memory,
      // CPU quota: one box cannot starve the host or its neighbours
      NanoCpus: Math.round(limits.cpus * 1e9),
      // under host memory pressure, sandboxes die before anything else
      OomScoreAdj: 500,
      // no core dumps onto tmpfs, bounded open files
      Ulimits: [
        { Name: 'core', Soft: 0, Hard: 0 },
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
      ],
      // own IPC namespace, no shared memory with the host or other boxes
      IpcMode: 'private',
      // no host mounts, no Docker socket
      Binds: [],
      Mounts: [],
      // output goes to kiln through attach only; a log driver would spill it onto the host's disk
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false,
    },
  };
}
