// npm run bench: what kiln costs and sustains, measured through its HTTP API, next to the engine's
// own figures measured in the same run. Prints figures; asserts nothing.
//   1. the engine: container churn (create + start + wait + remove) per second
//   2. naive `docker run` per execution: latency
//   2b. the executions log: one recordExecution, by the direct call (bench/store-cost.ts)
//   2c. the floor: a hello in a pre-started box as hardened as kiln's, no kiln in between (bench/floor.ts)
//   3. kiln below capacity (paced arrivals): latency, and its ratio to naive, for execute-function and execute;
//      a saved tool's execute against execute-function of the same code (bench/tool-execute.ts)
//   4. kiln at saturation (closed loop): executions per second, against the churn rate
//   5. kiln at 2x overload (open loop): share accepted / rejected, p99 of the accepted
//   6. egress: one proxied HTTPS request against a direct one, same upstream
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { loadConfig } from '../src/config.js';
import { CertificateAuthority } from '../src/egress/ca.js';
import { floorLine, measureFloor } from './floor.js';
import { percentile, row, rows, sleep, type Row } from './stats.js';
import { measureStoreCost, storeCostLine } from './store-cost.js';
import { measureToolExecute, toolExecuteLine } from './tool-execute.js';

const N = Number(process.env.BENCH_N ?? 40);
const KEY = 'bench-key-0123456789abcdef';
const MAX_WAIT_S = 2;
const HELLO = {
  python: { language: 'python', code: 'def execute(input):\n    print("hello")\n    return {"hello": input}', input: 'world' },
  javascript: { language: 'javascript', code: 'function execute(input) { console.log("hello"); return { hello: input }; }', input: 'world' },
} as const;
// The same through /v1/execute (script mode), Riza's main endpoint: the run ends when the program exits.
const HELLO_SCRIPT = {
  python: { language: 'python', code: 'print("hello")' },
  javascript: { language: 'javascript', code: 'console.log("hello")' },
} as const;

const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(11);

/** Runs `one` n times with `concurrency` in flight (closed loop); returns latencies and wall time. */
async function closedLoop(n: number, concurrency: number, one: () => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        await one();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

// ---- 1. the engine's own churn rate -------------------------------------------------------------
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const config = loadConfig({ KILN_API_KEYS: KEY, PORT: '0' });
async function churnOne(): Promise<void> {
  const c = await docker.createContainer({
    Image: config.KILN_PYTHON_IMAGE, Entrypoint: ['true'], Labels: { 'kiln.bench': 'churn' },
    HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'], Memory: 128 * 2 ** 20, LogConfig: { Type: 'none', Config: {} } },
  });
  await c.start();
  await c.wait();
  await c.remove({ force: true });
}
let churn = { rate: 0, concurrency: 0 };
for (const concurrency of [2, 4]) {
  const { seconds } = await closedLoop(20, concurrency, churnOne);
  if (20 / seconds > churn.rate) churn = { rate: 20 / seconds, concurrency };
}
const paceMs = Math.ceil(2000 / churn.rate); // half the engine's churn rate: the refills keep the engine half busy

// ---- 2. naive docker run ------------------------------------------------------------------------
function naiveDockerRun(image: string, argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('docker', ['run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'ALL', '--memory', '128m', '--entrypoint', argv[0]!, image, ...argv.slice(1)], { stdio: 'ignore' });
    child.on('exit', () => resolve());
  });
}
const naive = {
  python: () => naiveDockerRun(config.KILN_PYTHON_IMAGE, ['python3', '-c', 'print("hello")']),
  javascript: () => naiveDockerRun(config.KILN_NODE_IMAGE, ['node', '-e', 'console.log("hello")']),
};
const naiveRows: Record<string, Row> = {};
for (const [language, run] of Object.entries(naive)) naiveRows[language] = row(`naive docker run ${language}`, (await closedLoop(15, 1, run)).latencies);

// ---- 2b, 2c. the executions log's cost and the floor, before kiln starts: nothing else runs -----
const storeCost = await measureStoreCost(500);
const floorRows = await measureFloor(config, HELLO, 30, paceMs); // at kiln's pace: see bench/floor.ts

// ---- kiln, with an HTTPS upstream for the egress figures ---------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
const upstreamCa = await CertificateAuthority.create('kiln bench upstream CA');
const leaf = await upstreamCa.issue('localhost');
writeFileSync(join(dir, 'upstream-ca.pem'), upstreamCa.certPem);
const upstream = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('{"ok":true}'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
const upstreamPort = (upstream.address() as AddressInfo).port;

const kilnEnv: Record<string, string> = {
  KILN_API_KEYS: KEY, PORT: '0', KILN_INSTANCE: 'kiln-bench', KILN_LOG_LEVEL: 'info',
  KILN_QUEUE_MAX_WAIT_SECONDS: String(MAX_WAIT_S),
  KILN_DATA_DIR: join(dir, 'data'),
  KILN_EGRESS_UPSTREAM_CA_FILE: join(dir, 'upstream-ca.pem'),
  KILN_EGRESS_ALLOW_ADDRESSES: `127.0.0.1:${upstreamPort}`,
  ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^KILN_(POOL_|CONCURRENCY)/.test(e[0]) && !!e[1])),
};
const kilnConfig = loadConfig(kilnEnv);
// kiln runs as its own process, as it does for users: the load generator does not share its event loop.
const kilnProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  cwd: join(import.meta.dirname, '..'),
  env: { PATH: process.env.PATH, ...kilnEnv },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  kilnProcess.stdout!.on('data', (d: Buffer) => {
    const m = /"port":(\d+)/.exec(d.toString());
    if (m) resolve(Number(m[1]));
  });
  kilnProcess.on('exit', () => reject(new Error('kiln exited')));
});
kilnProcess.stdout!.resume();
const url = (path: string) => `http://127.0.0.1:${port}${path}`;
async function call(body: object, path = '/v1/execute-function'): Promise<number> {
  const res = await fetch(url(path), { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { output_status?: string; exit_code?: number; stdout?: string };
  const ok = path === '/v1/execute' ? json.exit_code === 0 && json.stdout === 'hello\n' : json.output_status === 'valid';
  if (res.status === 200 && !ok) throw new Error(`bad answer: ${JSON.stringify(json)}`);
  return res.status;
}
// let the pools fill: /readyz says ready once they have been full
for (let i = 0; i < 300 && (await fetch(url('/readyz'))).status !== 200; i++) await sleep(100);
for (const body of Object.values(HELLO)) await call(body); // warm connections and caches

// ---- 3. below capacity: paced arrivals, at half the churn rate and at one a second ---------------
async function paced(body: object, n: number, paceMs: number, path?: string): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(body, path);
    latencies.push(performance.now() - t);
    await sleep(Math.max(0, paceMs - (performance.now() - t)));
  }
  return latencies;
}
const kilnRows: Record<string, Row> = {};
for (const [language, body] of Object.entries(HELLO)) kilnRows[language] = row(`kiln ${language} hello, 1 per ${paceMs} ms`, await paced(body, N, paceMs));
const scriptRows: Record<string, Row> = {};
for (const [language, body] of Object.entries(HELLO_SCRIPT))
  scriptRows[language] = row(`kiln ${language} script hello, 1 per ${paceMs} ms`, await paced(body, N, paceMs, '/v1/execute'));
const lightRows: Record<string, Row> = {};
for (const [language, body] of Object.entries(HELLO)) lightRows[language] = row(`kiln ${language} hello, 1 per 1000 ms`, await paced(body, Math.ceil(N / 2), 1000));
const toolFigures = await measureToolExecute({ url, key: KEY, call, hello: HELLO, n: N, paceMs });

// ---- 4. saturation: closed loop at the concurrency bound -----------------------------------------
const bodies = Object.values(HELLO);
let k = 0;
const sat = await closedLoop(N * 2, kilnConfig.KILN_CONCURRENCY, () => call(bodies[k++ % 2]!));
const saturation = row(`kiln at saturation (${kilnConfig.KILN_CONCURRENCY} in flight)`, sat.latencies, sat.seconds);
await sleep(3000);

// ---- 5. 2x overload: open loop at twice the saturation rate --------------------------------------
const overloadRate = 2 * saturation.perSecond!;
const overloadSeconds = 10;
const accepted: number[] = [];
const rejected: number[] = [];
let retryAfterOk = true;
let other = 0;
const inFlight: Promise<void>[] = [];
const startedAt = performance.now();
for (let i = 0; performance.now() - startedAt < overloadSeconds * 1000; i++) {
  const due = startedAt + (i * 1000) / overloadRate;
  await sleep(Math.max(0, due - performance.now()));
  inFlight.push(
    (async () => {
      const t = performance.now();
      const res = await fetch(url('/v1/execute-function'), { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(bodies[i % 2]) });
      await res.arrayBuffer();
      const took = performance.now() - t;
      if (res.status === 200) accepted.push(took);
      else if (res.status === 429) {
        rejected.push(took);
        retryAfterOk &&= Number(res.headers.get('retry-after')) >= 1;
      } else other++;
    })(),
  );
}
await Promise.all(inFlight);
const sent = accepted.length + rejected.length + other;
row('2x overload: accepted', accepted);
row('2x overload: rejected with 429', rejected);

// ---- 6. egress: same Python code, direct from the host and proxied from a box -------------------
const EGRESS_N = 30;
const egressCode = `
import json, os, ssl, sys, time, urllib.request
for name in ("no_proxy", "NO_PROXY"):
    os.environ.pop(name, None)  # send localhost through the proxy when there is one
context = ssl.create_default_context(cafile=os.environ.get("BENCH_CA"))
latencies = []
for _ in range(${EGRESS_N}):
    started = time.perf_counter()
    urllib.request.urlopen("https://localhost:${upstreamPort}/", context=context).read()
    latencies.append((time.perf_counter() - started) * 1000)
print(json.dumps(latencies))`;
// Not spawnSync: the upstream lives in this process and must keep answering.
const direct = await new Promise<string>((resolve) => {
  const child = spawn('python3', ['-c', egressCode], { env: { PATH: process.env.PATH, BENCH_CA: join(dir, 'upstream-ca.pem') } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.on('close', () => resolve(stdout));
});
const boxed = (await fetch(url('/v1/execute'), {
  method: 'POST',
  headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify({ language: 'python', code: egressCode, http: { allow: [{ host: 'localhost', auth: { bearer: { token: 'bench' } } }] } }),
}).then((r) => r.json())) as { stdout: string };
const directRow = row('egress: direct HTTPS request (host)', JSON.parse(direct || '[]'));
const proxiedRow = row('egress: proxied HTTPS request (box → proxy)', JSON.parse(boxed.stdout || '[]'));

kilnProcess.kill('SIGTERM');
await new Promise((r) => kilnProcess.on('exit', r));
upstream.close();

// ---- report -------------------------------------------------------------------------------------
console.log(`\nkiln bench: ${cpus().length} cores, node ${process.version}, KILN_CONCURRENCY ${kilnConfig.KILN_CONCURRENCY}, pools python ${kilnConfig.KILN_POOL_PYTHON} / javascript ${kilnConfig.KILN_POOL_JAVASCRIPT} / typescript ${kilnConfig.KILN_POOL_TYPESCRIPT}\n`);
console.log(`${'scenario'.padEnd(48)}${'n'.padStart(5)}${'p50'.padStart(11)}${'p90'.padStart(11)}${'p99'.padStart(11)}${'exec/s'.padStart(9)}`);
for (const r of rows)
  console.log(`${r.name.padEnd(48)}${String(r.n).padStart(5)}${ms(r.p50)}${ms(r.p90)}${ms(r.p99)}${(r.perSecond?.toFixed(1) ?? '').padStart(9)}`);
console.log('');
console.log(`engine churn (create+start+wait+remove):  ${churn.rate.toFixed(1)} containers/s (best of concurrency 2 and 4: ${churn.concurrency})`);
for (const language of Object.keys(HELLO)) {
  const [half, light, scripted, naiveRow] = [kilnRows[language]!, lightRows[language]!, scriptRows[language]!, naiveRows[language]!];
  console.log(
    `${language} below capacity: at half the churn rate p50 ${half.p50.toFixed(1)} ms, p90 ${half.p90.toFixed(1)} ms (naive p50 / kiln p50 = ${(naiveRow.p50 / half.p50).toFixed(1)}x); ` +
      `at 1/s p50 ${light.p50.toFixed(1)} ms, p90 ${light.p90.toFixed(1)} ms (${(naiveRow.p50 / light.p50).toFixed(1)}x); ` +
      `script mode at half the churn rate p50 ${scripted.p50.toFixed(1)} ms, p90 ${scripted.p90.toFixed(1)} ms (${(naiveRow.p50 / scripted.p50).toFixed(1)}x)`,
  );
}
// Under overload every execution waits for a fresh container (the pool is empty): its time is what a
// run takes at saturation, with the concurrency bound full and no queue.
const acceptedP99 = percentile([...accepted].sort((a, b) => a - b), 99);
const overloadBound = MAX_WAIT_S * 1000 + saturation.p99;
console.log(`saturation: ${saturation.perSecond!.toFixed(1)} exec/s = ${(saturation.perSecond! / churn.rate).toFixed(2)}x the engine's churn rate`);
console.log(
  `2x overload (${overloadRate.toFixed(1)} req/s for ${overloadSeconds} s): ${sent} sent, ${accepted.length} accepted (${((100 * accepted.length) / sent).toFixed(0)}%), ` +
    `${rejected.length} rejected with 429 (${((100 * rejected.length) / sent).toFixed(0)}%, Retry-After ${retryAfterOk ? 'always set' : 'MISSING'}), ${other} other; ` +
    `accepted p99 ${acceptedP99.toFixed(0)} ms against queue-wait bound ${MAX_WAIT_S * 1000} ms + execution p99 at saturation ${saturation.p99.toFixed(0)} ms ` +
    `= ${overloadBound.toFixed(0)} ms (${acceptedP99 <= overloadBound ? 'within' : 'OVER'}); ` +
    `429 p99 ${percentile([...rejected].sort((a, b) => a - b), 99).toFixed(1)} ms`,
);
for (const figures of toolFigures) console.log(toolExecuteLine(figures));
console.log(storeCostLine(storeCost));
for (const language of Object.keys(HELLO)) console.log(floorLine(language, kilnRows[language]!, floorRows[language]!));
console.log(`egress: proxy overhead +${(proxiedRow.p50 - directRow.p50).toFixed(1)} ms per HTTPS request at p50 (direct ${directRow.p50.toFixed(1)} ms, proxied ${proxiedRow.p50.toFixed(1)} ms)`);
