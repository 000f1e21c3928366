import Docker from 'dockerode';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startKiln } from '../../src/main.js';
import { POSTGRES_MODE, postgresEnvFor } from './postgres.js';

export const TEST_KEY = 'test-key-0123456789abcdef';
/** Every container of a test run carries this instance name; teardown and globalSetup sweep by it. */
export const TEST_INSTANCE = `kiln-test-${process.pid}`;

/** The OCI runtime the suite runs its boxes under: `KILN_OCI_RUNTIME=runsc npm run test:integration`. */
export const TEST_OCI_RUNTIME = process.env.KILN_OCI_RUNTIME || 'runc';

export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

export interface TestKiln {
  url: string;
  /** Any method, JSON body optional, with `key` (the test key by default). */
  request(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers; ms: number }>;
  close(): Promise<void>;
}

/** Starts kiln in this process on an ephemeral port, with the real Docker engine behind it. */
export async function startTestKiln(env: Record<string, string> = {}): Promise<TestKiln> {
  const dataDir = env.KILN_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'kiln-test-data-'));
  const config = loadConfig({
    KILN_API_KEYS: TEST_KEY,
    PORT: '0',
    KILN_INSTANCE: TEST_INSTANCE,
    KILN_LOG_LEVEL: 'silent',
    // each kiln its own state: its database, secrets key and egress CA
    KILN_DATA_DIR: dataDir,
    // (KILN_TEST_STORE=postgres: the database is PostgreSQL's, one per data directory)
    ...(POSTGRES_MODE && !env.KILN_DATABASE_URL ? await postgresEnvFor(dataDir) : {}),
    // the suites run under runc, and (in CI) the security and egress ones again under runsc
    KILN_OCI_RUNTIME: TEST_OCI_RUNTIME,
    ...env,
  });
  const kiln = await startKiln(config);
  const url = `http://127.0.0.1:${kiln.port}`;
  return {
    url,
    request: (method, path, body, key) => call(url, method, path, body, key),
    async post(path, body, headers = {}) {
      const started = performance.now();
      const res = await fetch(url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers, ms: performance.now() - started };
    },
    close: () => kiln.close(),
  };
}

/** /readyz, asked until it says ready (kiln starts answering before its warm pools are full), within `ms`. */
export async function untilReady(url: string, ms = 30_000): Promise<Response> {
  const deadline = Date.now() + ms;
  let res = await fetch(`${url}/readyz`);
  while (res.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    res = await fetch(`${url}/readyz`);
  }
  return res;
}

/** Containers this test run created that still exist. */
export async function testContainers(all = true) {
  return docker.listContainers({ all, filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
}

/** Removes this run's containers, and those of earlier test runs whose process is gone; never another live run's. */
/** Removes the runtime images this run built (their keys hold the run's random source ports: no other run shares them). */
export async function removeTestImages(): Promise<void> {
  for (const image of await docker.listImages({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } }))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
}

export async function removeTestContainers(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: ['kiln.managed=true'] } });
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await Promise.all(
    list
      .filter((c) => {
        const pid = /^kiln-test-(\d+)/.exec(c.Labels['kiln.instance'] ?? '')?.[1];
        return pid !== undefined && (Number(pid) === process.pid || !alive(Number(pid)));
      })
      .map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
  );
}

/** A JSON call with the test key; answers status and parsed body. */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  key = TEST_KEY,
): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

/** GET /v1/executions/{id} until `done` says so (an async invocation's end, its webhook's), within `ms`. */
export async function untilExecution(url: string, id: string, done: (view: any) => boolean, ms = 60_000): Promise<any> {
  const stop = Date.now() + ms;
  for (;;) {
    const { body } = await call(url, 'GET', `/v1/executions/${id}`);
    if (done(body)) return body;
    if (Date.now() > stop) throw new Error(`${id}: timed out; last ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
