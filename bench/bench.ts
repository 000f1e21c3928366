// npm run bench: latency percentiles and executions per second through kiln's HTTP API,
// next to a naive `docker run` per execution measured in the same run. Prints figures; asserts nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { CertificateAuthority } from '../src/egress/ca.js';
import { startKiln } from '../src/main.js';

const N = Number(process.env.BENCH_N ?? 30);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const KEY = 'bench-key-0123456789abcdef';

const HELLO = {
  python: { language: 'python', code: 'def execute(input):\n    print("hello")\n    return {"hello": input}', input: 'world' },
  javascript: { language: 'javascript', code: 'function execute(input) { console.log("hello"); return { hello: input }; }', input: 'world' },
} as const;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Figures { name: string; n: number; p50: number; p90: number; p99: number; perSecond: number; failed: number }

/** Runs `one` n times with `concurrency` in flight; returns latency percentiles and throughput. */
async function measure(name: string, n: number, concurrency: number, one: () => Promise<boolean>): Promise<Figures> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const t = performance.now();
        if (!(await one())) failed++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { name, n, p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), perSecond: n / seconds, failed };
}

function naiveDockerRun(image: string, argv: string[]): Promise<boolean> {
  // The naive way: one `docker run` per execution, with the same basic lock-down.
  return new Promise((resolve) => {
    const child = spawn('docker', ['run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'ALL', '--memory', '128m', '--entrypoint', argv[0]!, image, ...argv.slice(1)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve(code === 0 && out.includes('hello')));
  });
}

// An HTTPS upstream on 127.0.0.1 for the egress figures: the same client code calls it directly from
// the host and, from inside a box, through kiln's proxy (CONNECT, TLS terminated, re-encrypted upstream).
const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
const upstreamCa = await CertificateAuthority.create('kiln bench upstream CA');
const leaf = await upstreamCa.issue('localhost');
writeFileSync(join(dir, 'upstream-ca.pem'), upstreamCa.certPem);
const upstream = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('{"ok":true}'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
const upstreamPort = (upstream.address() as AddressInfo).port;

const config = loadConfig({
  KILN_API_KEYS: KEY, PORT: '0', KILN_INSTANCE: 'kiln-bench', KILN_LOG_LEVEL: 'silent', KILN_CONCURRENCY: String(CONCURRENCY),
  KILN_DATA_DIR: join(dir, 'data'),
  KILN_EGRESS_UPSTREAM_CA_FILE: join(dir, 'upstream-ca.pem'),
  KILN_EGRESS_ALLOW_ADDRESSES: `127.0.0.1:${upstreamPort}`,
});
const kiln = await startKiln(config);
const url = `http://127.0.0.1:${kiln.port}/v1/execute-function`;

async function callKiln(body: object): Promise<boolean> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { output_status?: string };
  return res.status === 200 && json.output_status === 'valid';
}

const rows: Figures[] = [];
for (const body of Object.values(HELLO)) await callKiln(body); // warm caches: images, esbuild, connections
for (const [language, body] of Object.entries(HELLO)) {
  rows.push(await measure(`kiln ${language} hello, sequential`, N, 1, () => callKiln(body)));
  rows.push(await measure(`kiln ${language} hello, ${CONCURRENCY} in flight`, N * 2, CONCURRENCY, () => callKiln(body)));
}
const naive = {
  python: () => naiveDockerRun(config.KILN_PYTHON_IMAGE, ['python3', '-c', 'print("hello")']),
  javascript: () => naiveDockerRun(config.KILN_NODE_IMAGE, ['node', '-e', 'console.log("hello")']),
};
for (const [language, run] of Object.entries(naive)) {
  rows.push(await measure(`naive docker run ${language}, sequential`, Math.ceil(N / 2), 1, run));
  rows.push(await measure(`naive docker run ${language}, ${CONCURRENCY} in flight`, N, CONCURRENCY, run));
}

// Egress: one HTTPS request = new connection + TLS + GET, N times, same Python code on both sides.
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
const direct = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
  const child = spawn('python3', ['-c', egressCode], { env: { PATH: process.env.PATH, BENCH_CA: join(dir, 'upstream-ca.pem') } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.on('close', () => resolve({ stdout, stderr }));
});
const boxed = await fetch(`http://127.0.0.1:${kiln.port}/v1/execute`, {
  method: 'POST',
  headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
  body: JSON.stringify({ language: 'python', code: egressCode, http: { allow: [{ host: 'localhost', auth: { bearer: { token: 'bench' } } }] } }),
}).then((r) => r.json() as Promise<{ stdout: string; stderr: string }>);
await kiln.close();
upstream.close();
const egressRows: [string, number[]][] = [];
try {
  egressRows.push(['direct HTTPS request (host)', (JSON.parse(direct.stdout) as number[]).sort((a, b) => a - b)]);
  egressRows.push(['proxied HTTPS request (box → kiln proxy)', (JSON.parse(boxed.stdout) as number[]).sort((a, b) => a - b)]);
} catch {
  console.error('egress bench failed:', direct.stderr, boxed.stderr);
}

const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(10);
console.log(`\nkiln bench: ${cpus().length} cores, node ${process.version}, concurrency ${CONCURRENCY}\n`);
console.log(`${'scenario'.padEnd(44)}${'n'.padStart(5)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'p99'.padStart(10)}${'exec/s'.padStart(9)}  failed`);
for (const r of rows)
  console.log(`${r.name.padEnd(44)}${String(r.n).padStart(5)}${ms(r.p50)}${ms(r.p90)}${ms(r.p99)}${r.perSecond.toFixed(1).padStart(9)}  ${r.failed}`);
for (const language of ['python', 'javascript']) {
  const k = rows.find((r) => r.name === `kiln ${language} hello, sequential`)!;
  const d = rows.find((r) => r.name === `naive docker run ${language}, sequential`)!;
  console.log(`\n${language}: naive docker run p50 / kiln p50 = ${(d.p50 / k.p50).toFixed(2)}x`);
}
if (egressRows.length === 2) {
  console.log(`\n${'egress (new connection + TLS + GET each)'.padEnd(44)}${'n'.padStart(5)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'p99'.padStart(10)}`);
  for (const [name, l] of egressRows) console.log(`${name.padEnd(44)}${String(l.length).padStart(5)}${ms(percentile(l, 50))}${ms(percentile(l, 90))}${ms(percentile(l, 99))}`);
  const added = percentile(egressRows[1]![1], 50) - percentile(egressRows[0]![1], 50);
  console.log(`\nproxy overhead: +${added.toFixed(1)} ms per HTTPS request at p50`);
}
