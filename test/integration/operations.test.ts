// Running kiln: readiness, Docker outages and recovery, leftovers of a crash, SIGTERM drain, metrics, config errors.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerRelay } from '../helpers/docker-relay.js';
import { buildContainerSpec } from '../../src/sandbox/container-spec.js';
import { createDockerClient } from '../../src/sandbox/docker.js';
import { TEST_INSTANCE, TEST_KEY, docker, startTestKiln, untilReady } from '../helpers/kiln.js';

const hello = { language: 'python', code: 'def execute(input):\n    return input', input: 'hi' };
const root = join(import.meta.dirname, '../..');

describe('readiness and Docker outages', () => {
  const relay = dockerRelay(`/tmp/kiln-test-docker-${process.pid}.sock`);
  afterAll(() => relay.down());

  it('is ready with Docker and images; 503s when Docker goes away; recovers by itself', async () => {
    await relay.up();
    const kiln = await startTestKiln({ KILN_DOCKER_HOST: `unix:///tmp/kiln-test-docker-${process.pid}.sock` });
    try {
      expect((await untilReady(kiln.url)).status).toBe(200);
      expect((await kiln.post('/v1/execute-function', hello)).body.output).toBe('hi');

      await relay.down();
      const ready = await fetch(`${kiln.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).reason).toContain('Docker');
      const down = await kiln.post('/v1/execute-function', hello);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: 14, message: expect.stringContaining('Docker engine is unreachable') });
      expect(down.ms).toBeLessThan(5000);

      await relay.up();
      expect((await fetch(`${kiln.url}/readyz`)).status).toBe(200);
      expect((await kiln.post('/v1/execute-function', hello)).body.output).toBe('hi');
    } finally {
      await relay.up(); // let close() remove its containers
      await kiln.close();
    }
  });

  it('removes a container whose create answered only after kiln had given up on it', async () => {
    await relay.up();
    const client = createDockerClient(`unix:///tmp/kiln-test-docker-${process.pid}.sock`, {
      createMs: 300,
      attachMs: 10_000,
      startMs: 15_000,
    });
    const instance = `${TEST_INSTANCE}-late`;
    const since = Math.floor(Date.now() / 1000) - 1;
    const spec = buildContainerSpec({
      image: 'kiln-python:latest',
      instance,
      boot: 'late',
      caPem: '',
      limits: { memoryMiB: 64, cpus: 1, pidsLimit: 64, tmpfsMiB: 16 },
    });
    relay.freeze(); // the engine does not answer in time
    await expect(client.startSandbox(spec)).rejects.toMatchObject({ details: [{ reason: 'docker_timeout' }] });
    expect(relay.thaw()).toBeGreaterThan(0); // now the create goes through, late
    let left = [{}];
    for (let i = 0; i < 50 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 200));
      left = await docker.listContainers({ all: true, filters: { label: [`kiln.instance=${instance}`] } });
    }
    expect(left).toEqual([]);
    // it was created (else this proves nothing), and destroyed
    const events = (await docker.getEvents({
      since,
      until: Math.floor(Date.now() / 1000) + 1,
      filters: { label: [`kiln.instance=${instance}`] },
    })) as unknown as AsyncIterable<Buffer>;
    let log = '';
    for await (const chunk of events) log += chunk.toString();
    const actions = log
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { Action: string }).Action);
    expect(actions).toContain('create');
    expect(actions).toContain('destroy');
  });

  it('names a missing image in /readyz and in the 503 of an execution; other languages still run', async () => {
    const kiln = await startTestKiln({ KILN_PYTHON_IMAGE: 'kiln-missing-image:none' });
    try {
      const ready = await fetch(`${kiln.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).reason).toContain('kiln-missing-image:none');
      const res = await kiln.post('/v1/execute-function', hello);
      expect(res.status).toBe(503);
      expect(res.body.message).toContain('kiln-missing-image:none');
      expect(res.body.details[0].reason).toBe('image_missing');
      const js = await kiln.post('/v1/execute-function', { language: 'javascript', code: 'function execute(i) { return i; }', input: 1 });
      expect(js.body.output).toBe(1);
    } finally {
      await kiln.close();
    }
  });
});

describe('lifecycle', () => {
  it('removes at start the containers a crashed run of the same instance left, and only those', async () => {
    const instance = `${TEST_INSTANCE}-sweep`;
    const leftover = await docker.createContainer({
      Image: 'kiln-python:latest',
      Labels: { 'kiln.managed': 'true', 'kiln.instance': instance },
    });
    const other = await docker.createContainer({
      Image: 'kiln-python:latest',
      Labels: { 'kiln.managed': 'true', 'kiln.instance': `${instance}-other` },
    });
    try {
      const kiln = await startTestKiln({ KILN_INSTANCE: instance });
      await kiln.close();
      await expect(leftover.inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await other.inspect()).Id).toBe(other.id);
    } finally {
      await other.remove({ force: true });
      await leftover.remove({ force: true }).catch(() => {});
    }
  });

  it('on SIGTERM stops taking connections, answers what it accepted, removes its containers, exits 0', async () => {
    const instance = `${TEST_INSTANCE}-drain`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        KILN_API_KEYS: TEST_KEY,
        PORT: '0',
        KILN_INSTANCE: instance,
        KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-drain-')),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /"port":(\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
      setTimeout(() => reject(new Error('kiln did not start')), 20_000);
    });
    const url = `http://127.0.0.1:${port}`;
    const inFlight = fetch(`${url}/v1/execute-function`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', code: 'import time\ndef execute(input):\n    time.sleep(2)\n    return "finished"' }),
    });
    await new Promise((r) => setTimeout(r, 700));
    const started = performance.now();
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((await res.json()).output).toBe('finished');
    expect(await exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const left = await docker.listContainers({ all: true, filters: { label: [`kiln.instance=${instance}`] } });
    expect(left).toEqual([]);
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, KILN_API_KEYS: TEST_KEY, KILN_MAX_MEMORY_MIB: 'lots' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('KILN_MAX_MEMORY_MIB');
  });
});

describe('metrics', () => {
  it('counts executions by language and outcome and records their duration', async () => {
    const kiln = await startTestKiln();
    try {
      await kiln.post('/v1/execute-function', hello);
      await kiln.post('/v1/execute', { language: 'javascript', code: 'process.exit(2)' });
      const text = await (await fetch(`${kiln.url}/metrics`)).text();
      expect(text).toMatch(/kiln_executions_total\{language="python",outcome="valid"\} 1/);
      expect(text).toMatch(/kiln_executions_total\{language="javascript",outcome="error"\} 1/);
      expect(text).toMatch(/kiln_execution_duration_seconds_count\{language="python"\} 1/);
    } finally {
      await kiln.close();
    }
  });
});
