import { describe, expect, it } from 'vitest';
import { buildContainerSpec, INSTANCE_LABEL, MANAGED_LABEL } from '../../../src/sandbox/container-spec.js';

const spec = buildContainerSpec({
  image: 'kiln-python:latest',
  limits: { memoryMiB: 256, cpus: 0.5, pidsLimit: 64, tmpfsMiB: 32 },
  instance: 'kiln-test',
  boot: 'b00t',
  caPem: 'PEM',
  labels: { 'kiln.test-run': 'r1' },
});
const host = spec.HostConfig!;

describe('buildContainerSpec', () => {
  it('uses the requested image', () => {
    expect(spec.Image).toBe('kiln-python:latest');
  });

  it('runs as a non-root user', () => {
    expect(spec.User).toBeDefined();
    const [uid, gid] = spec.User!.split(':');
    expect(uid).not.toBe('0');
    expect(uid).not.toBe('root');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid)).toBeGreaterThan(0);
  });

  it('has a read-only root filesystem', () => {
    expect(host.ReadonlyRootfs).toBe(true);
  });

  it('drops every capability and is not privileged', () => {
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd ?? []).toEqual([]);
    expect(host.Privileged).not.toBe(true);
  });

  it('sets no-new-privileges and never disables seccomp or apparmor', () => {
    expect(host.SecurityOpt).toContain('no-new-privileges');
    for (const opt of host.SecurityOpt ?? []) expect(opt).not.toMatch(/unconfined/);
  });

  it("under runsc carries kiln's seccomp profile: namespaces, mounts and the keyring refused, clone3 left to gVisor", () => {
    const gvisor = buildContainerSpec({
      image: 'kiln-python:latest',
      limits: { memoryMiB: 256, cpus: 0.5, pidsLimit: 64, tmpfsMiB: 32 },
      instance: 'kiln-test',
      boot: 'b00t',
      caPem: 'PEM',
      ociRuntime: 'runsc',
    }).HostConfig!;
    expect(gvisor.Runtime).toBe('runsc');
    expect(gvisor.SecurityOpt![0]).toBe('no-new-privileges');
    const profile = JSON.parse(gvisor.SecurityOpt![1]!.replace(/^seccomp=/, '')) as {
      defaultAction: string;
      syscalls: { names: string[]; action: string; args?: { value: number }[] }[];
    };
    const refused = (name: string) => profile.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ERRNO');
    for (const name of [
      'unshare',
      'setns',
      'mount',
      'keyctl',
      'add_key',
      'bpf',
      'perf_event_open',
      'init_module',
      'kexec_load',
      'process_vm_writev',
    ])
      expect(refused(name), name).toHaveLength(1);
    // clone with CLONE_NEWUSER (and every other namespace flag) is refused by its argument; clone itself is not
    expect(refused('clone').map((r) => r.args![0]!.value)).toContain(0x10000000);
    expect(refused('clone').every((r) => r.args?.length === 1)).toBe(true);
    // gVisor answers clone3 with ENOSYS itself (glibc falls back); a rule would answer EPERM and stop every thread
    expect(refused('clone3')).toEqual([]);
    expect(host.SecurityOpt).toEqual(['no-new-privileges']); // runc: Docker's default profile
  });

  it('has no network', () => {
    expect(host.NetworkMode).toBe('none');
    expect(spec.NetworkDisabled).toBe(true);
  });

  it('limits processes', () => {
    expect(host.PidsLimit).toBe(64);
  });

  it('limits memory in bytes with swap equal to memory', () => {
    expect(host.Memory).toBe(256 * 2 ** 20);
    expect(host.MemorySwap).toBe(host.Memory);
  });

  it('limits CPU in nano-CPUs', () => {
    expect(host.NanoCpus).toBe(500_000_000);
  });

  it('mounts size-capped, noexec tmpfs at /tmp and /mnt/req', () => {
    const tmpfs = host.Tmpfs!;
    expect(Object.keys(tmpfs).sort()).toEqual(['/mnt/req', '/tmp']);
    for (const path of ['/tmp', '/mnt/req']) {
      const opts = tmpfs[path]!.split(',');
      expect(opts).toContain('size=32m');
      expect(opts).toContain('noexec');
      expect(opts).toContain('nosuid');
    }
  });

  it('mounts nothing from the host', () => {
    expect(host.Binds ?? []).toEqual([]);
    expect(host.Mounts ?? []).toEqual([]);
    expect(host.VolumesFrom ?? []).toEqual([]);
    expect(spec.Volumes ?? {}).toEqual({});
  });

  it('labels the container as managed by this instance, keeping extra labels', () => {
    expect(spec.Labels).toMatchObject({
      [MANAGED_LABEL]: 'true',
      [INSTANCE_LABEL]: 'kiln-test',
      'kiln.test-run': 'r1',
    });
    expect(MANAGED_LABEL).toBe('kiln.managed');
    expect(INSTANCE_LABEL).toBe('kiln.instance');
  });

  it('does not let caller labels override the management labels', () => {
    const s = buildContainerSpec({
      image: 'i',
      limits: { memoryMiB: 16, cpus: 1, pidsLimit: 1, tmpfsMiB: 1 },
      instance: 'real',
      boot: 'b00t',
      caPem: 'PEM',
      labels: { [INSTANCE_LABEL]: 'spoofed', [MANAGED_LABEL]: 'false' },
    });
    expect(s.Labels?.[INSTANCE_LABEL]).toBe('real');
    expect(s.Labels?.[MANAGED_LABEL]).toBe('true');
  });

  it('disables the log driver so output never lands on the host disk', () => {
    expect(host.LogConfig?.Type).toBe('none');
  });

  it('passes no environment to the container but the egress CA certificate (and, for a TypeScript pool, what to warm)', () => {
    expect(spec.Env).toEqual(['KILN_EGRESS_CA=PEM']);
    const ts = buildContainerSpec({
      image: 'i',
      limits: { memoryMiB: 16, cpus: 1, pidsLimit: 7, tmpfsMiB: 5 },
      instance: 'x',
      boot: 'b',
      caPem: 'PEM',
      warmEnv: ['KILN_WARM_TYPESCRIPT=1'],
    });
    expect(ts.Env).toEqual(['KILN_EGRESS_CA=PEM', 'KILN_WARM_TYPESCRIPT=1']);
  });

  it('does not share the host PID or IPC namespace', () => {
    expect(host.PidMode ?? '').not.toBe('host');
    expect(host.IpcMode).not.toBe('host');
    expect(host.UsernsMode ?? '').not.toBe('host');
  });

  it('scales with other limits', () => {
    const s = buildContainerSpec({
      image: 'i',
      limits: { memoryMiB: 16, cpus: 2, pidsLimit: 7, tmpfsMiB: 5 },
      instance: 'x',
      boot: 'b',
      caPem: 'PEM',
    });
    expect(s.HostConfig!.Memory).toBe(16 * 1024 * 1024);
    expect(s.HostConfig!.MemorySwap).toBe(16 * 1024 * 1024);
    expect(s.HostConfig!.NanoCpus).toBe(2e9);
    expect(s.HostConfig!.PidsLimit).toBe(7);
    expect(s.HostConfig!.Tmpfs!['/tmp']).toContain('size=5m');
  });

  it('creates the box with the configured OCI runtime, and leaves Docker its default otherwise', () => {
    const limits = { memoryMiB: 16, cpus: 1, pidsLimit: 64, tmpfsMiB: 5 };
    expect(buildContainerSpec({ image: 'i', limits, instance: 'x', boot: 'b', caPem: '', ociRuntime: 'runsc' }).HostConfig?.Runtime).toBe(
      'runsc',
    );
    expect(buildContainerSpec({ image: 'i', limits, instance: 'x', boot: 'b', caPem: '' }).HostConfig).not.toHaveProperty('Runtime');
  });
});
