// deploy/compose.replicas.yaml for real (opt-in: KILN_TEST_COMPOSE=1, it builds and starts a whole stack):
// kiln replicas behind the load balancer, on the air-gapped bases, sharing one PostgreSQL. Executions sent
// to the load balancer run on more than one replica, and any replica reads what another recorded.
//
// Needs docker-compose (Debian's 1.29) and the local bases:
//   npm run images -- --air-gapped --service-base --deploy-base
// Everything it makes is in the Compose project `kiln-deploy-test`, removed at the end (`down -v`); the
// only traffic is to 127.0.0.1 and, through `docker exec`, to the replicas' own loopback.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

const root = join(import.meta.dirname, '../..');
const project = 'kiln-deploy-test';
const replicas = Number(process.env.KILN_TEST_COMPOSE_REPLICAS ?? 2);
const key = `deploy-test-${randomBytes(12).toString('hex')}`;
const bases = ['kiln-base:bookworm', 'kiln-base-node:bookworm', 'kiln-base-npm:bookworm', 'kiln-base-deploy:bookworm'];

// The stack's settings: the local bases, images of its own (not kiln:latest), a free port, fresh secrets,
// small pools (a 2-core machine runs every replica's pools on one engine).
let port = 0;
const settings = () => ({
  KILN_PYTHON_BASE: 'kiln-base:bookworm',
  KILN_NODE_BASE: 'kiln-base-node:bookworm',
  KILN_SERVICE_BASE: 'kiln-base-npm:bookworm',
  KILN_POSTGRES_BASE: 'kiln-base-deploy:bookworm',
  KILN_LB_BASE: 'kiln-base-deploy:bookworm',
  KILN_IMAGE: `${project}-kiln:latest`,
  KILN_POSTGRES_IMAGE: `${project}-postgres:latest`,
  KILN_LB_IMAGE: `${project}-lb:latest`,
  KILN_LB_ADDRESS: '127.0.0.1',
  KILN_LB_PORT: String(port),
  KILN_SECRETS_KEY: randomBytes(32).toString('base64'),
  KILN_POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
  KILN_API_KEYS: key,
  KILN_CONCURRENCY: '2',
  KILN_POOL_PYTHON: '1',
  KILN_POOL_JAVASCRIPT: '0',
  KILN_POOL_TYPESCRIPT: '0',
});
let env: NodeJS.ProcessEnv = {};

/** docker-compose on this project; rejects with the tail of its output. */
async function compose(args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run('docker-compose', ['-p', project, '-f', join(root, 'deploy/compose.replicas.yaml'), ...args], {
      env,
      cwd: root,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`docker-compose ${args.join(' ')} failed: ${e.message}\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.slice(-4000)}`);
  }
}

/** GET `path` on a replica's own loopback, through `docker exec` (its port is not published). */
async function onReplica(id: string, path: string): Promise<{ status: number; text: string }> {
  const script = `fetch('http://127.0.0.1:8080${path}').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() })), () => process.stdout.write('{"status":0,"text":""}'))`;
  const { stdout } = await run('docker', ['exec', id, 'node', '-e', script], { timeout: 15_000 });
  return JSON.parse(stdout);
}

/** Executions a replica has run, from its own /metrics (kiln_executions_total, every label set). */
async function executionsOn(id: string): Promise<number> {
  const { text } = await onReplica(id, '/metrics');
  return text
    .split('\n')
    .filter((l) => l.startsWith('kiln_executions_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

const lb = (path: string, init?: RequestInit) =>
  fetch(`http://127.0.0.1:${port}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init?.headers },
  });

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe.runIf(process.env.KILN_TEST_COMPOSE === '1')('deploy/compose.replicas.yaml', () => {
  let ids: string[] = [];
  const executions: string[] = [];

  beforeAll(async () => {
    for (const image of bases)
      await docker
        .getImage(image)
        .inspect()
        .catch(() => {
          throw new Error(`${image} is missing: run \`npm run images -- --air-gapped --service-base --deploy-base\``);
        });
    port = await freePort();
    env = { ...process.env, ...settings() };
    await compose(['down', '-v', '--timeout', '30'], 120_000); // what an interrupted earlier run left
    // Builds (the kiln image's `npm ci` from the base's offline cache is the long part) and starts it all.
    await compose(['up', '-d', '--build', '--scale', `kiln=${replicas}`], 20 * 60_000);
    ids = (await compose(['ps', '-q', 'kiln'], 30_000)).split('\n').filter(Boolean);
  }, 25 * 60_000);

  afterAll(async () => {
    await compose(['down', '-v', '--timeout', '60'], 180_000).catch((error) => console.error(error));
  }, 200_000);

  it('starts the replicas, and the load balancer answers /readyz once they are ready', async () => {
    expect(ids).toHaveLength(replicas);
    const deadline = Date.now() + 240_000;
    let status = 0;
    // HAProxy starts its servers UP and takes them DOWN after two failed checks (kiln is 503 while its
    // pools warm), then UP again after two good ones, 2 s apart: a 200 counts once it has held for 8 s
    let held = 0;
    while (Date.now() < deadline && held < 8) {
      status = await lb('/readyz').then(
        (r) => r.status,
        () => 0,
      );
      held = status === 200 ? held + 1 : 0;
      await sleep(1000);
    }
    expect(status).toBe(200);
    // every replica, on its own (the balancer routes only to ready ones, so this makes the spread below possible)
    for (const id of ids) {
      let ready = await onReplica(id, '/readyz');
      while (ready.status !== 200 && Date.now() < deadline) {
        await sleep(1000);
        ready = await onReplica(id, '/readyz');
      }
      expect(ready, `replica ${id.slice(0, 12)}`).toMatchObject({ status: 200 });
    }
  }, 300_000);

  it('runs executions sent to the load balancer on more than one replica, each exactly once', async () => {
    const served = () => Promise.all(ids.map(executionsOn));
    const before = await served();
    let counts = before;
    // HAProxy marks a replica up after two passing checks (2 s apart): keep sending until the spread shows.
    for (let i = 0; i < 40; i++) {
      const res = await lb('/v1/execute', { method: 'POST', body: JSON.stringify({ language: 'python', code: 'print(1+1)' }) });
      const text = await res.text();
      expect(res.status, text.slice(0, 500)).toBe(200);
      const body = JSON.parse(text);
      expect(body.stdout).toBe('2\n');
      executions.push(body.id);
      counts = await served();
      if (executions.length >= 6 && counts.filter((n, j) => n > before[j]!).length >= 2) break;
      await sleep(250);
    }
    const ran = counts.map((n, j) => n - before[j]!);
    expect(ran.filter((n) => n > 0).length, `executions per replica: ${ran.join(', ')}`).toBeGreaterThanOrEqual(2);
    expect(ran.reduce((a, b) => a + b, 0)).toBe(executions.length);
  }, 180_000);

  it('shares the executions log: whichever replica answers lists and reads them all', async () => {
    expect(executions.length).toBeGreaterThan(0);
    for (let i = 0; i < replicas; i++) {
      const res = await lb('/v1/executions?limit=100');
      expect(res.status).toBe(200);
      const listed = new Set(((await res.json()).data as { id: string }[]).map((e) => e.id));
      expect(executions.filter((id) => !listed.has(id))).toEqual([]);
    }
    for (const id of executions) {
      const res = await lb(`/v1/executions/${id}`);
      expect(res.status).toBe(200);
      expect((await res.json()).id).toBe(id);
    }
  }, 60_000);

  it('stops: every replica drains and removes its own sandboxes, and nothing of the stack is left', async () => {
    const instances = await Promise.all(ids.map(async (id) => (await docker.getContainer(id).inspect()).Config.Hostname));
    // each replica had its pool on the shared engine, under its own name
    const mine = async () =>
      (await docker.listContainers({ all: true, filters: { label: ['kiln.managed=true'] } })).filter((c) =>
        instances.includes(c.Labels['kiln.instance'] ?? ''),
      );
    expect((await mine()).length).toBeGreaterThanOrEqual(replicas);
    await compose(['down', '-v', '--timeout', '60'], 180_000);
    expect(await mine()).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } })).toEqual([]);
    expect((await docker.listVolumes({ filters: { label: [`com.docker.compose.project=${project}`] } })).Volumes ?? []).toEqual([]);
  }, 200_000);
});
