import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createApp } from '../../src/app.js';
import { createServices } from '../../src/services.js';
import { loadConfig } from '../../src/config.js';
import type { Job, RunJob, RunResult } from '../../src/sandbox/job.js';
import { createMetrics } from '../../src/metrics.js';
import { createRuntimeRegistry } from '../../src/runtimes/registry.js';
import { createAdmission } from '../../src/sandbox/admission.js';
import type { DockerClient } from '../../src/sandbox/docker.js';
import { SecretBox } from '../../src/secrets/secret-box.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { RuntimeRevisionRecord } from '../../src/store/runtimes/records.js';

export const API_KEY = 'unit-test-key-0123456789abcdef';
export const OTHER_KEY = 'second-unit-test-key-abcdef0123';
/** A key of another project: it must see none of the first project's objects. */
export const PROJECT_B_KEY = 'project-b-unit-key-0123456789';
export const auth = { Authorization: `Bearer ${API_KEY}` };
export const jsonHeaders = { ...auth, 'Content-Type': 'application/json' };

/** What the fake runner answers for a job: a run that exited 0 and echoes what it was given. */
export function fakeResult(job: Job): RunResult {
  return {
    exitCode: 0,
    stdout: `ran ${job.runtime.language} ${job.mode}`,
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    stopReason: 'exited',
    durationMs: 12,
    outputJson: job.mode === 'function' ? JSON.stringify({ echoed: job.input ?? null }) : null,
    outputStatus: 'valid',
  };
}

/** A Docker that answers every health question well and never starts anything. */
export function fakeDocker(overrides: Partial<DockerClient> = {}): DockerClient {
  return {
    ping: async () => {},
    missingImages: async () => [],
    runtimes: async () => ({ runc: [] }),
    startSandbox: async () => {
      throw new Error('unit tests never start a sandbox');
    },
    removeLeftovers: async () => 0,
    images: {
      id: async (image) => `sha256:unit-${image}`,
      build: async () => {
        throw new Error('unit tests never build an image');
      },
      listRuntimeImages: async () => [],
      remove: async () => true,
    },
    ...overrides,
  };
}

/**
 * The real app over a fake runner and a fake Docker, with a real SQLite store in a fresh temporary
 * directory; `jobs` records every job the runner received.
 */
export async function buildTestApp(
  opts: {
    env?: Record<string, string>;
    runJob?: RunJob;
    docker?: Partial<DockerClient>;
    warming?: () => string | null;
    log?: Logger;
    owner?: string;
  } = {},
) {
  const config = loadConfig({ KILN_API_KEYS: `${API_KEY},${OTHER_KEY},b:${PROJECT_B_KEY}`, ...opts.env });
  const jobs: Job[] = [];
  const builds: RuntimeRevisionRecord[] = [];
  const run: RunJob = opts.runJob ?? (async (job) => fakeResult(job));
  const runJob: RunJob = (job) => {
    jobs.push(job);
    return run(job);
  };
  const metrics = createMetrics();
  const admission = createAdmission({
    concurrency: config.KILN_CONCURRENCY,
    queueLimit: config.KILN_QUEUE_LIMIT,
    queueBytesLimit: config.KILN_QUEUE_BYTES_LIMIT,
    maxWaitMs: config.KILN_QUEUE_MAX_WAIT_SECONDS * 1000,
  });
  /** The store's SQLite file (with its `-wal` beside it), for tests that read what reached the disk. */
  const dbFile = join(mkdtempSync(join(tmpdir(), 'kiln-unit-')), 'kiln.db');
  const store = await openSqliteStore({ file: dbFile });
  const log = opts.log ?? pino({ level: 'silent' });
  const registry = createRuntimeRegistry(config);
  const core = createServices({
    config,
    log,
    metrics,
    registry,
    admission,
    runJob,
    store,
    secretBox: new SecretBox(Buffer.alloc(32, 7)),
    // builds never run here: they are queued, and a test ends them through the store (finishBuild)
    builds: {
      baseImageId: async (language) => `sha256:unit-${language}`,
      enqueue: (revision) => void builds.push(revision),
      sweepSoon: () => {},
      built: async () => true,
      ensureImage: async () => ({ state: 'ready' }),
      liveLog: () => undefined,
    },
    sourcesFingerprint: 'unit',
    owner: opts.owner ?? 'unit',
    // sessions need real boxes: their tests are integration tests
    boxes: {
      provider: {
        acquire: async () => {
          throw new Error('no boxes in unit tests');
        },
        release: () => {},
        refill: () => {},
      },
      egress: { serve: () => {}, end: () => {} },
    },
  });
  const app = createApp({ config, log, metrics, docker: fakeDocker(opts.docker), registry, services: core, warming: opts.warming });
  await core.start();
  /** Ends the build of a queued revision as a builder would. */
  const finishBuild = (revision: RuntimeRevisionRecord, status: 'succeeded' | 'failed', failureReason: string | null = null) =>
    store.runtimes.finishBuilds(revision.imageKey, { status, failureReason, log: `unit build ${status}\n`, at: new Date().toISOString() });
  /** Sends `body` as JSON with `key`'s bearer token (the first project's key by default). */
  const request = (method: string, path: string, body?: unknown, key = API_KEY) =>
    app.request(path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  /** POSTs `body` as JSON with the API key. */
  const post = (path: string, body: unknown, headers: Record<string, string> = jsonHeaders) =>
    app.request(path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { app, core, config, jobs, metrics, admission, store, dbFile, post, request, builds, finishBuild };
}

export interface ErrorBody {
  code: number;
  message: string;
  details?: { field?: string; reason: string; message?: string }[];
}
