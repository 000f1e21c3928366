// Sessions (issue 23): what a call in a live session costs against a one-shot warm execution of the
// same code, interleaved at the same pace (no box is started or removed for a session call); what
// creating a session costs from a warm pool; and state: a large object made once and used by 20
// calls, against remaking it in each of 20 one-shot calls; and idle cost (bench/session-idle.ts).
// `npx tsx bench/sessions.ts [--idle-only]` runs these cases alone, against a kiln of their own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import Docker from 'dockerode';
import { loadConfig } from '../src/config.js';
import { KEY, type KilnProcess, startKilnProcess } from './kiln-process.js';
import { type IdleFigures, idleLine, measureIdle } from './session-idle.js';
import { row, sleep, type Row } from './stats.js';

type Hello = { language: string; code: string; input: string };

export interface SessionFigures {
  language: string;
  create: Row;
  call: Row;
  oneShot: Row;
  /** Total ms of 20 uses: once made in a session, and remade in each one-shot call. */
  state?: { session: number; oneShot: number };
  files?: FileFigures;
  idle?: IdleFigures;
}

export interface FileFigures {
  mib: number;
  putMs: number;
  getMs: number;
  dockerCpMs: number;
  /** kiln's resident memory during the transfers, above what it was before them. */
  rssGrowthMiB: number;
}

const CALL: Record<string, string> = {
  python: 'print("hello")\n{"hello": "world"}',
  javascript: 'console.log("hello"); ({ hello: "world" })',
};
// about 100 MB: made once in a session; remade by each one-shot call
const BIG = 'data = bytearray(100 * 1024 * 1024)\nfor i in range(0, len(data), 4096):\n    data[i] = i % 251\n';
const USE = 'sum(data[::4096]) % 1000';
/** Idle sessions per language measured at once. */
const IDLE_N = 3;

/** The configured session bounds of a kiln started with `env`. */
function sessionLimits(env: Record<string, string>) {
  const config = loadConfig(env);
  return { sessionsMax: config.KILN_SESSIONS_MAX, perProject: config.KILN_SESSIONS_PER_PROJECT };
}

async function session(kiln: KilnProcess, language: string, memory?: number): Promise<{ id: string; ms: number }> {
  const t = performance.now();
  const res = await kiln.send('POST', '/v1/sessions', { language, ...(memory ? { limits: { memory_size: memory } } : {}) });
  if (res.status !== 200) throw new Error(`session create (${language}) answered ${res.status}: ${JSON.stringify(res.json)}`);
  return { id: res.json.id, ms: performance.now() - t };
}

export async function measureSessions(
  kiln: KilnProcess,
  hello: Record<string, Hello>,
  n: number,
  paceMs: number,
  /** The kiln's environment, for its configured session bounds; bench.ts's kiln sets none of them. */
  env: Record<string, string> = { KILN_API_KEYS: KEY, PORT: '0' },
): Promise<SessionFigures[]> {
  const figures: SessionFigures[] = [];
  for (const [language, body] of Object.entries(hello)) {
    const idle = await measureIdle(kiln, language, IDLE_N, sessionLimits(env));
    const creates: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await session(kiln, language);
      creates.push(s.ms);
      await kiln.send('DELETE', `/v1/sessions/${s.id}`);
      await sleep(1000); // the pool refills: each create finds a warm box, as at a steady pace
    }
    const { id } = await session(kiln, language);
    const latencies = { call: [] as number[], oneShot: [] as number[] };
    for (let i = 0; i < 2 * n; i++) {
      const which = (i % 2 === 0) === (Math.floor(i / 2) % 2 === 0) ? 'call' : 'oneShot';
      const t = performance.now();
      const status =
        which === 'call' ? (await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: CALL[language] })).status : await kiln.call(body);
      const took = performance.now() - t;
      if (status !== 200) throw new Error(`${which} (${language}) answered ${status}`);
      latencies[which].push(took);
      await sleep(Math.max(0, paceMs - took));
    }
    await kiln.send('DELETE', `/v1/sessions/${id}`);
    figures.push({
      language,
      create: row(`session create ${language} (warm pool)`, creates),
      call: row(`session execute ${language}, 1 per ${paceMs} ms`, latencies.call),
      oneShot: row(`kiln ${language} hello interleaved with sessions`, latencies.oneShot),
      idle,
      ...(language === 'python' ? { state: await measureState(kiln), files: await measureFiles(kiln) } : {}),
    });
  }
  return figures;
}

/**
 * A 50 MB file into a session and back through kiln (PUT and GET, streamed), against `docker cp` of
 * the same file into a container of the same image, in the same run; and kiln's RSS meanwhile, which
 * must not grow by the file's size.
 */
async function measureFiles(kiln: KilnProcess): Promise<FileFigures> {
  const mib = 50;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-files-'));
  const file = join(dir, 'blob.bin');
  writeFileSync(file, randomBytes(mib * 1024 * 1024));
  const { id } = await session(kiln, 'python', 512);
  const before = kiln.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, kiln.rss())), 20);
  const headers = { authorization: `Bearer ${KEY}` };
  let t = performance.now();
  const put = await fetch(kiln.url(`/v1/sessions/${id}/files/blob.bin`), {
    method: 'PUT',
    headers,
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  if (put.status !== 200) throw new Error(`file upload answered ${put.status}: ${await put.text()}`);
  const putMs = performance.now() - t;
  t = performance.now();
  const got = await fetch(kiln.url(`/v1/sessions/${id}/files/blob.bin`), { headers });
  let bytes = 0;
  for await (const chunk of got.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  const getMs = performance.now() - t;
  clearInterval(sampler);
  if (bytes !== mib * 1024 * 1024) throw new Error(`file download gave ${bytes} bytes`);
  await kiln.send('DELETE', `/v1/sessions/${id}`);
  // the baseline: docker cp of the same file into a container of the same image (its writable layer)
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const container = await docker.createContainer({
    Image: 'kiln-python:latest',
    Entrypoint: ['sleep', '30'],
    Labels: { 'kiln.bench': 'files' },
  });
  t = performance.now();
  execFileSync('docker', ['cp', file, `${container.id}:/tmp/blob.bin`]);
  const dockerCpMs = performance.now() - t;
  await container.remove({ force: true });
  rmSync(dir, { recursive: true, force: true });
  return { mib, putMs, getMs, dockerCpMs, rssGrowthMiB: (peak - before) / 2 ** 20 };
}

/** 20 uses of a ~100 MB object: made once in a session, against remade in each of 20 one-shot calls. */
async function measureState(kiln: KilnProcess): Promise<{ session: number; oneShot: number }> {
  const { id } = await session(kiln, 'python', 512);
  let t = performance.now();
  await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: BIG, timeout: 120 });
  for (let i = 0; i < 20; i++) await kiln.send('POST', `/v1/sessions/${id}/execute`, { code: USE });
  const inSession = performance.now() - t;
  await kiln.send('DELETE', `/v1/sessions/${id}`);
  t = performance.now();
  for (let i = 0; i < 20; i++) {
    const res = await kiln.send('POST', '/v1/execute', {
      language: 'python',
      code: `${BIG}print(${USE})`,
      limits: { memory_size: 512, execution_timeout: 120 },
    });
    if (res.status !== 200 || res.json.exit_code !== 0)
      throw new Error(`one-shot state run failed: ${JSON.stringify(res.json).slice(0, 300)}`);
  }
  return { session: inSession, oneShot: performance.now() - t };
}

export function sessionsLine(f: SessionFigures): string {
  const state = f.state
    ? `; 20 uses of a 100 MB object: ${f.state.session.toFixed(0)} ms in a session against ${f.state.oneShot.toFixed(0)} ms remade in one-shot calls (${(f.state.oneShot / f.state.session).toFixed(1)}x)`
    : '';
  const files = f.files
    ? `; a ${f.files.mib} MB file in ${f.files.putMs.toFixed(0)} ms and out in ${f.files.getMs.toFixed(0)} ms against docker cp's ${f.files.dockerCpMs.toFixed(0)} ms in (${(f.files.putMs / f.files.dockerCpMs).toFixed(2)}x, ${(f.files.getMs / f.files.dockerCpMs).toFixed(2)}x; target ≤ 2x), kiln's RSS +${f.files.rssGrowthMiB.toFixed(0)} MiB meanwhile`
    : '';
  return (
    `sessions (${f.language}): execute p50 ${f.call.p50.toFixed(1)} ms, p90 ${f.call.p90.toFixed(1)} ms = ${(f.call.p50 / f.oneShot.p50).toFixed(2)}x a one-shot warm execute's ${f.oneShot.p50.toFixed(1)} ms (target ≤ 0.6x); ` +
    `create p50 ${f.create.p50.toFixed(0)} ms = ${(f.create.p50 / f.oneShot.p50).toFixed(1)}x a warm execute (target ≤ 1.5x)${state}${files}` +
    (f.idle ? `\n${idleLine(f.idle)}` : '')
  );
}

/** This file's cases alone: a kiln of their own (the KILN_POOL_, CONCURRENCY, SESSION and OCI_RUNTIME variables passed on). */
async function runAlone(idleOnly: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-sessions-'));
  const env: Record<string, string> = {
    KILN_API_KEYS: KEY,
    PORT: '0',
    KILN_LOG_LEVEL: 'info', // its "listening" line gives the port
    KILN_INSTANCE: 'kiln-bench-sessions',
    KILN_DATA_DIR: join(dir, 'data'),
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => /^KILN_(POOL_|RUNTIME_POOL_SIZE|CONCURRENCY|SESSION|OCI_RUNTIME)/.test(e[0]) && !!e[1],
      ),
    ),
  };
  const kiln = await startKilnProcess(env);
  try {
    if (idleOnly)
      for (const language of ['python', 'javascript']) console.log(idleLine(await measureIdle(kiln, language, IDLE_N, sessionLimits(env))));
    else {
      const hello = {
        python: { language: 'python', code: 'def execute(input):\n    print("hello")\n    return {"hello": input}', input: 'world' },
        javascript: {
          language: 'javascript',
          code: 'function execute(input) { console.log("hello"); return { hello: input }; }',
          input: 'world',
        },
      };
      for (const body of Object.values(hello)) await kiln.call(body); // warm connections and caches
      const figures = await measureSessions(kiln, hello, Number(process.env.BENCH_N ?? 10), Number(process.env.BENCH_PACE_MS ?? 250), env);
      for (const f of figures) console.log(sessionsLine(f));
    }
  } finally {
    await kiln.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone(process.argv.includes('--idle-only'));
