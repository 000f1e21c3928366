// Hostile programs (test/fixtures/hostile/, one attack per file) and what Docker says it applied.
// Each asserts its outcome and a bounded wall time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequest } from '../../src/sandbox/box-request.js';
import { GVISOR_SECCOMP_PROFILE } from '../../src/sandbox/seccomp-gvisor.js';
import { TEST_INSTANCE, TEST_KEY, TEST_OCI_RUNTIME, docker, startTestKiln, testContainers, type TestKiln } from '../helpers/kiln.js';

const hostile = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/hostile', name), 'utf8');
const CANARY = `canary-${process.pid}-secret`;
const OUTPUT_LIMIT = 64 * 1024;

let kiln: TestKiln;
beforeAll(async () => {
  process.env.KILN_TEST_CANARY = CANARY; // lives in kiln's process environment: must never reach a box
  kiln = await startTestKiln({ KILN_OUTPUT_LIMIT_BYTES: String(OUTPUT_LIMIT) });
});
afterAll(async () => {
  await kiln.close();
  delete process.env.KILN_TEST_CANARY;
});

const script = (language: string, code: string, extra: Record<string, unknown> = {}) =>
  kiln.post('/v1/execute', { language, code, ...extra });

describe('hostile programs', () => {
  it('fork bomb: stopped by the pids limit and the deadline; kiln keeps answering', async () => {
    const res = await script('python', hostile('fork-bomb.py'), { limits: { execution_timeout: 3 } });
    expect(res.status).toBe(200);
    // under gVisor a fork bomb exhausts the pids its own kernel's threads need: the whole box ends
    expect(TEST_OCI_RUNTIME === 'runsc' ? ['timeout', 'exited', 'out_of_memory', 'sandbox_error'] : ['timeout', 'exited']).toContain(
      res.body.stop_reason,
    );
    expect(res.ms).toBeLessThan(15_000);
    const after = await script('python', 'print("alive")');
    expect(after.body.stdout).toBe('alive\n');
  });

  it.each([
    ['python', 'memory-bomb.py'],
    ['javascript', 'memory-bomb.js'],
  ])('%s memory bomb: killed at the memory limit, reported as out_of_memory', async (language, file) => {
    const res = await script(language, hostile(file), { limits: { memory_size: 64, execution_timeout: 20 } });
    expect(res.status).toBe(200);
    expect(res.body.stop_reason).toBe('out_of_memory');
    expect(res.body.exit_code).not.toBe(0);
    expect(res.body.stderr).toContain('out of memory');
    expect(res.ms).toBeLessThan(15_000);
  });

  it('endless loop with a 2 s timeout: answered within about 3 s', async () => {
    const res = await script('python', hostile('endless-loop.py'), { limits: { execution_timeout: 2 } });
    expect(res.status).toBe(200);
    expect(res.body.stop_reason).toBe('timeout');
    expect(res.body.exit_code).not.toBe(0);
    expect(res.ms).toBeGreaterThanOrEqual(2000);
    expect(res.ms).toBeLessThan(4000);
  });

  it('endless loop in execute-function: output_status error, no output', async () => {
    const res = await kiln.post('/v1/execute-function', {
      language: 'javascript',
      code: 'function execute() { for (;;) {} }',
      limits: { execution_timeout: 1 },
    });
    expect(res.body).toMatchObject({ output: null, output_status: 'error' });
    expect(res.body.execution.stop_reason).toBe('timeout');
    expect(res.ms).toBeLessThan(3000);
  });

  it.each([
    ['python', 'flood-stdout.py'],
    ['javascript', 'flood-stdout.js'],
  ])('%s printing 100 MB: prompt, bounded, truncated answer', async (language, file) => {
    const res = await script(language, hostile(file));
    expect(res.status).toBe(200);
    expect(res.body.stop_reason).toBe('output_limit');
    expect(res.body.stdout_truncated).toBe(true);
    expect(Buffer.byteLength(res.body.stdout)).toBeLessThanOrEqual(OUTPUT_LIMIT);
    expect(Buffer.byteLength(res.body.stdout)).toBeGreaterThan(OUTPUT_LIMIT / 2);
    expect(res.ms).toBeLessThan(10_000);
  });

  it("cannot read the server's environment or secrets", async () => {
    const res = await script('python', hostile('read-server-env.py'), { env: { MINE: 'visible' } });
    expect(res.body.exit_code).toBe(0);
    expect(res.body.stdout).toContain("'MINE': 'visible'");
    expect(res.body.stdout).not.toContain(CANARY);
    expect(res.body.stdout).not.toContain(TEST_KEY);
    // the one variable kiln gives a box: the egress CA's public certificate
    expect(res.body.stdout.match(/KILN_\w+/g)?.every((name: string) => name === 'KILN_EGRESS_CA') ?? true).toBe(true);
    expect(res.body.stdout).not.toContain('PRIVATE KEY');
  });

  it('cannot write outside /tmp and /mnt/req', async () => {
    const res = await script('python', hostile('write-outside.py'));
    const results = JSON.parse(res.body.stdout);
    expect(results).toEqual({
      '/evil': expect.stringMatching(/OSError|PermissionError/),
      '/opt/kiln/wrapper.py': expect.stringMatching(/OSError|PermissionError/),
      '/etc/passwd': expect.stringMatching(/OSError|PermissionError/),
      '/usr/bin/evil': expect.stringMatching(/OSError|PermissionError/),
      '/tmp/ok': 'written',
      '/mnt/req/ok': 'written',
    });
  });

  it('has no network: loopback only, no name resolution, the API port unreachable', async () => {
    const port = new URL(kiln.url).port;
    const res = await script('python', hostile('network.py'), { args: [port], limits: { execution_timeout: 10 } });
    expect(JSON.parse(res.body.stdout)).toEqual({ interfaces: ['lo'], dns: 'gaierror', api: 'ConnectionRefusedError' });
    expect(res.ms).toBeLessThan(8000);
  });

  it('runs unprivileged: uid 10001, no capabilities, no_new_privs, seccomp on', async () => {
    const res = await script('python', hostile('privileges.py'));
    const report = JSON.parse(res.body.stdout);
    expect(report.Uid.split(/\s+/)[0]).toBe('10001');
    expect(report.CapEff).toBe('0000000000000000');
    expect(report.CapBnd).toBe('0000000000000000');
    // a seccomp filter on the code under both runtimes (gVisor's runsc --oci-seccomp applies the box's
    // profile inside its kernel); gVisor's /proc shows no NoNewPrivs line (it applies that outside)
    expect(report.Seccomp).toBe('2');
    expect(report.NoNewPrivs).toBe(TEST_OCI_RUNTIME === 'runsc' ? null : '1');
    expect(report.setuid0).toBe('refused');
  });

  it('the seccomp profile refuses new namespaces, the keyring and personality changes, under runc and gVisor alike', async () => {
    const res = await script('python', hostile('namespaces.py'), { limits: { execution_timeout: 10 } });
    expect(res.body.exit_code, res.body.stderr).toBe(0);
    const refused = 'Operation not permitted';
    expect(JSON.parse(res.body.stdout)).toEqual({
      unshare_user: refused,
      unshare_mount: refused,
      keyctl: refused,
      add_key: refused,
      personality: refused,
      clone_user: refused,
    });
    expect(res.ms).toBeLessThan(8000);
  });

  it.each([
    ['python', 'kill-wrapper.py'],
    ['javascript', 'kill-wrapper.js'],
  ])('signalling the wrapper does not break the answer (%s)', async (language, file) => {
    const res = await kiln.post('/v1/execute-function', { language, code: hostile(file) });
    // gVisor does not shield PID 1 from signals: the code can end its own box, which is its own failure (a 200)
    if (TEST_OCI_RUNTIME === 'runsc')
      expect(res.body).toMatchObject({ output_status: 'error', execution: { stop_reason: 'sandbox_error' } });
    else expect(res.body).toMatchObject({ output: 'still here', output_status: 'valid' });
    expect(res.ms).toBeLessThan(5000);
  });

  it.each([
    ['python', 'orphan-holds-pipes.py'],
    ['javascript', 'orphan-holds-pipes.js'],
  ])('a background process or thread left holding the pipes does not hold the answer (%s)', async (language, file) => {
    const res = await kiln.post('/v1/execute-function', { language, code: hostile(file), limits: { execution_timeout: 20 } });
    expect(res.body).toMatchObject({ output: 42, output_status: 'valid' });
    // the harness stays put for 1 s after its last word: an answer that waited for it, or for the
    // background processes, would take longer than this
    expect(res.body.execution.duration).toBeLessThan(900);
    expect(res.ms).toBeLessThan(5000);
  });

  it('SIGUSR1 to PID 1 of a Node box opens no inspector', async () => {
    const res = await script('javascript', hostile('inspector.js'));
    expect(res.body.stdout).toBe('ECONNREFUSED\n');
  });

  it('a TypeScript nesting bomb fails only its own run', async () => {
    const bomb = `let a = ${'('.repeat(100_000)}1${')'.repeat(100_000)};`;
    const res = await script('typescript', bomb, { limits: { execution_timeout: 10 } });
    expect(res.status).toBe(200);
    expect(res.body.exit_code).not.toBe(0);
    expect(res.ms).toBeLessThan(12_000);
    const after = await script('typescript', 'const n: number = 1; console.log(n);');
    expect(after.body.stdout).toBe('1\n');
  });

  it('a box whose kiln went away ends itself (stdin closed)', async () => {
    const container = await docker.createContainer({
      Image: 'kiln-python:latest',
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      Labels: { 'kiln.managed': 'true', 'kiln.instance': `${TEST_INSTANCE}-orphan` },
      HostConfig: { NetworkMode: 'none', Tmpfs: { '/mnt/req': 'uid=10001' } },
    });
    try {
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
      await container.start();
      stream.write(
        encodeRequest({
          mode: 'script',
          runtime: { language: 'python' },
          code: 'import time\ntime.sleep(600)',
          env: {},
          files: [],
          timeoutMs: 600_000,
          args: [],
          stdin: '',
        }),
      );
      await new Promise((r) => setTimeout(r, 500));
      expect((await container.inspect()).State.Running).toBe(true);
      stream.destroy(); // what a crash of kiln does to the attach connection
      const started = performance.now();
      await container.wait();
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await container.remove({ force: true });
    }
  });
});

describe('what Docker applied', () => {
  it('creates each sandbox hardened, labelled, and removes it afterwards', async () => {
    // 96 MiB is no pool's limit: this run gets a fresh container, labelled with its execution
    const running = script('python', 'import time\ntime.sleep(3)', { limits: { memory_size: 96 } });
    let inspected: Awaited<ReturnType<ReturnType<typeof docker.getContainer>['inspect']>> | undefined;
    for (let i = 0; i < 50 && !inspected; i++) {
      const found = (await testContainers(false)).find((c) => c.Labels['kiln.execution']);
      if (found) inspected = await docker.getContainer(found.Id).inspect();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(inspected).toBeDefined();
    const host = inspected!.HostConfig;
    expect(inspected!.Config.User).toBe('10001:10001');
    expect(inspected!.Config.Labels['kiln.managed']).toBe('true');
    expect(inspected!.Config.Labels['kiln.execution']).toMatch(/^exec_/);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd ?? []).toEqual([]);
    // Docker's default seccomp profile under runc; under runsc, kiln's (applied inside gVisor)
    expect(host.SecurityOpt).toEqual(
      TEST_OCI_RUNTIME === 'runsc' ? ['no-new-privileges', `seccomp=${GVISOR_SECCOMP_PROFILE}`] : ['no-new-privileges'],
    );
    expect(host.Privileged).toBe(false);
    expect(host.NetworkMode).toBe('none');
    expect(host.Runtime).toBe(TEST_OCI_RUNTIME);
    expect(host.PidsLimit).toBeGreaterThan(0);
    expect(host.Memory).toBe(96 * 1024 * 1024);
    expect(host.MemorySwap).toBe(96 * 1024 * 1024);
    expect(host.NanoCpus).toBeGreaterThan(0);
    expect(Object.keys(host.Tmpfs ?? {}).sort()).toEqual(['/mnt/req', '/tmp']);
    expect(host.Tmpfs?.['/tmp']).toMatch(/size=\d+m/);
    expect(host.Binds ?? []).toEqual([]);
    expect(inspected!.Mounts.filter((m) => m.Type === 'bind')).toEqual([]);
    expect(inspected!.Config.Env.join('\n')).not.toContain(CANARY);
    const kilnEnv = inspected!.Config.Env.filter((e) => e.startsWith('KILN_'));
    expect(kilnEnv).toHaveLength(1);
    expect(kilnEnv[0]).toMatch(/^KILN_EGRESS_CA=-----BEGIN CERTIFICATE-----/);
    expect(kilnEnv[0]).not.toContain('PRIVATE KEY');
    expect((await running).body.exit_code).toBe(0);
    // removal follows the answer: give it a moment, bounded
    const gone = async () => !(await testContainers()).some((c) => c.Id === inspected!.Id);
    for (let i = 0; i < 50 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await gone()).toBe(true);
  });
});
