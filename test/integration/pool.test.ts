// The warm pool against a real engine: one use per container, refill, limits never loosened,
// dead-container replacement, Docker outages, shutdown cleanup, no Docker call on the request path, 429.
import { afterAll, describe, expect, it } from 'vitest';
import { dockerRelay } from '../helpers/docker-relay.js';
import { execFileSync } from 'node:child_process';
import { TEST_INSTANCE, docker, startTestKiln, untilReady, type TestKiln } from '../helpers/kiln.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Running pooled containers of an instance (their ids), waiting until there are `n`, within `ms`. */
async function pooled(instance: string, n?: number, ms = 15_000): Promise<string[]> {
  const list = async () =>
    (await docker.listContainers({ filters: { label: [`kiln.instance=${instance}`, 'kiln.pool=python'] } })).map((c) => c.Id);
  const deadline = Date.now() + ms;
  let ids = await list();
  while (n !== undefined && ids.length !== n && Date.now() < deadline) {
    await sleep(100);
    ids = await list();
  }
  return ids;
}

/** Python code that reports which box it ran in, whether an earlier run left a mark there, and its memory limit. */
const whoAmI = `
import os
def execute(input):
    seen = os.path.exists("/tmp/mark")
    open("/tmp/mark", "w").write("x")
    limit = None
    for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
        if os.path.exists(path):
            limit = int(open(path).read().strip())
    return {"host": open("/etc/hostname").read().strip(), "seen_mark": seen, "limit": limit}`;

describe('warm pool', () => {
  const instance = `${TEST_INSTANCE}-pool`;
  let kiln: TestKiln;
  afterAll(() => kiln?.close());

  it('reports "warming" on /readyz until its pools are first full, then ready with them full', async () => {
    const warmup = await startTestKiln({
      KILN_INSTANCE: `${instance}-ready`,
      KILN_POOL_PYTHON: '2',
      KILN_POOL_JAVASCRIPT: '1',
      KILN_POOL_TYPESCRIPT: '1',
    });
    try {
      const seen: string[] = [];
      let res = await fetch(`${warmup.url}/readyz`);
      for (let i = 0; i < 300 && res.status !== 200; i++) {
        const body = (await res.json()) as { status: string; reason: string };
        expect(res.status).toBe(503);
        // the pools not yet full, each with how many boxes it has
        expect(body.reason).toMatch(/^filling the warm pools \(((python [01]\/2|javascript 0\/1|typescript 0\/1)(, )?)+ ready\)$/);
        seen.push(body.status);
        await sleep(50);
        res = await fetch(`${warmup.url}/readyz`);
      }
      expect(res.status).toBe(200);
      expect(seen.every((s) => s === 'warming')).toBe(true);
      const metrics = await (await fetch(`${warmup.url}/metrics`)).text();
      expect(metrics).toMatch(/kiln_pool_ready\{language="python"\} 2/);
      expect(metrics).toMatch(/kiln_pool_ready\{language="javascript"\} 1/);
      expect(metrics).toMatch(/kiln_pool_ready\{language="typescript"\} 1/);
    } finally {
      await warmup.close();
    }
  });

  it('serves each container once, from the pool, and refills it', async () => {
    kiln = await startTestKiln({ KILN_INSTANCE: instance, KILN_POOL_PYTHON: '2', KILN_POOL_JAVASCRIPT: '0', KILN_POOL_TYPESCRIPT: '0' });
    const before = await pooled(instance, 2);
    expect(before).toHaveLength(2);
    const a = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    const b = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(a.body.output.seen_mark).toBe(false);
    expect(b.body.output.seen_mark).toBe(false); // nothing of one execution is visible to the next
    expect(a.body.output.host).not.toBe(b.body.output.host);
    for (const run of [a, b]) expect(before.some((id) => id.startsWith(run.body.output.host))).toBe(true);
    // the used boxes are removed after their answers, and two fresh ones take their place
    const used = (id: string) => id.startsWith(a.body.output.host) || id.startsWith(b.body.output.host);
    let after = await pooled(instance);
    for (let i = 0; i < 150 && (after.length !== 2 || after.some(used)); i++) {
      await sleep(100);
      after = await pooled(instance);
    }
    expect(after).toHaveLength(2);
    expect(after.some(used)).toBe(false);
  });

  it('never loosens limits: another memory limit gets a fresh container with exactly that limit', async () => {
    const ids = await pooled(instance, 2);
    const small = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI, limits: { memory_size: 64 } });
    expect(small.body.output.limit).toBe(64 * 1024 * 1024);
    expect(ids.some((id) => id.startsWith(small.body.output.host))).toBe(false);
    const dflt = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(dflt.body.output.limit).toBe(128 * 1024 * 1024);
    expect(ids.some((id) => id.startsWith(dflt.body.output.host))).toBe(true);
  });

  it('replaces a pooled container that died while waiting', async () => {
    // a box just used by the previous test may still be exiting: let it go, then kill one that is really waiting
    await sleep(1000);
    let victim: string | undefined;
    for (let i = 0; i < 50 && !victim; i++) {
      const [candidate] = await pooled(instance, 2);
      try {
        await docker.getContainer(candidate!).kill();
        victim = candidate;
      } catch {
        await sleep(100);
      }
    }
    expect(victim).toBeDefined();
    const deadline = Date.now() + 15_000;
    let ids = await pooled(instance);
    while ((ids.includes(victim!) || ids.length !== 2) && Date.now() < deadline) {
      await sleep(100);
      ids = await pooled(instance);
    }
    expect(ids).toHaveLength(2);
    expect(ids).not.toContain(victim);
    const res = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(res.body.output_status).toBe('valid');
  });

  it('hands out only boxes whose harness said it is ready; one that cannot get ready is a 503, never a run', async () => {
    // an image whose "harness" exits at once, without a word: its boxes end before they are ready
    const image = `kiln-test-unready-${process.pid}:latest`;
    execFileSync('docker', ['build', '-q', '-t', image, '-'], {
      input: 'FROM kiln-python:latest\nENTRYPOINT ["python3", "/opt/kiln/wrapper.py", "true"]\n',
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    const broken = await startTestKiln({
      KILN_INSTANCE: `${instance}-unready`,
      KILN_PYTHON_IMAGE: image,
      KILN_POOL_PYTHON: '1',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
    });
    try {
      const res = await broken.post('/v1/execute-function', { language: 'python', code: 'def execute(input):\n    return 1' });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 14, details: [{ reason: 'sandbox_not_ready' }] });
      expect(res.ms).toBeLessThan(10_000);
      const ready = await fetch(`${broken.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { status: string }).status).toBe('warming');
      // the other language, on its own image, is unaffected
      const js = await broken.post('/v1/execute-function', { language: 'javascript', code: 'function execute(i) { return i; }', input: 2 });
      expect(js.body.output).toBe(2);
    } finally {
      await broken.close();
      execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    }
  });

  it('reports a harness that died on its request as a failed run, with what it printed', async () => {
    // an image whose "harness" says it is ready, then dies as a harness could on a request too big for it
    const image = `kiln-test-dies-${process.pid}:latest`;
    const harness = 'eval "echo ready >&$3"; read -r line <&$1; echo "harness died" >&2; exit 3';
    execFileSync('docker', ['build', '-q', '-t', image, '-'], {
      input: `FROM kiln-python:latest\nENTRYPOINT ${JSON.stringify(['python3', '-I', '-S', '/opt/kiln/wrapper.py', 'sh', '-c', harness, 'sh'])}\n`,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    const dying = await startTestKiln({
      KILN_INSTANCE: `${instance}-dies`,
      KILN_PYTHON_IMAGE: image,
      KILN_POOL_PYTHON: '1',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
    });
    try {
      expect((await untilReady(dying.url)).status).toBe(200);
      const res = await dying.post('/v1/execute', { language: 'python', code: 'print(1)' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ exit_code: 3, stderr: 'harness died\n', stdout: '' });
    } finally {
      await dying.close();
      execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    }
  });

  it('removes its containers, pooled ones included, on shutdown', async () => {
    await kiln.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`kiln.instance=${instance}`] } });
    expect(left).toEqual([]);
  });
});

describe('warm pool and the Docker engine', () => {
  const path = `/tmp/kiln-test-pool-relay-${process.pid}.sock`;
  const relay = dockerRelay(path);
  const instance = `${TEST_INSTANCE}-relay`;
  let kiln: TestKiln;
  afterAll(async () => {
    await relay.up().catch(() => {});
    await kiln?.close();
    await relay.down();
  });

  it('makes no Docker API call on the request path when a warm container is ready', async () => {
    await relay.up();
    kiln = await startTestKiln({
      KILN_INSTANCE: instance,
      KILN_DOCKER_HOST: `unix://${path}`,
      KILN_POOL_PYTHON: '2',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
    });
    expect((await untilReady(kiln.url)).status).toBe(200); // both boxes started and their harnesses warm
    relay.freeze(); // every Docker API request from now on waits; only the boxes' attach streams flow
    const res = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(res.status).toBe(200);
    expect(res.body.output_status).toBe('valid');
    expect(res.ms).toBeLessThan(2000);
    // what kiln asks of Docker goes out after the answer (the used box's removal, a refill): it is held
    await sleep(500);
    expect(relay.thaw()).toBeGreaterThan(0);
    expect(await pooled(instance, 2)).toHaveLength(2);
  });

  it('rebuilds itself after Docker goes away and comes back, answering 503 meanwhile', async () => {
    await relay.down(); // every stream to Docker is cut, as a restart of the engine does
    const down = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(down.status).toBe(503);
    expect(down.ms).toBeLessThan(5000);
    await relay.up();
    const ids = await pooled(instance, 2, 20_000);
    expect(ids).toHaveLength(2);
    const res = await kiln.post('/v1/execute-function', { language: 'python', code: whoAmI });
    expect(res.body.output_status).toBe('valid');
    expect((await pooled(instance)).length + 1).toBeGreaterThanOrEqual(2);
  });
});

describe('overload', () => {
  it('answers 429 with Retry-After at once when the queue is full; accepted requests all get their answers', async () => {
    const kiln = await startTestKiln({
      KILN_CONCURRENCY: '1',
      KILN_QUEUE_LIMIT: '1',
      KILN_POOL_PYTHON: '2',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
    });
    try {
      const slow = { language: 'python', code: 'import time\ndef execute(input):\n    time.sleep(1.5)\n    return input', input: 'done' };
      const results = await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          await sleep(i * 50);
          return kiln.post('/v1/execute-function', slow);
        }),
      );
      const ok = results.filter((r) => r.status === 200);
      const busy = results.filter((r) => r.status === 429);
      expect(ok).toHaveLength(2);
      expect(busy).toHaveLength(2);
      for (const r of ok) expect(r.body.output).toBe('done');
      for (const r of busy) {
        expect(r.body.code).toBe(8);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.ms).toBeLessThan(500);
      }
    } finally {
      await kiln.close();
    }
  });
});
