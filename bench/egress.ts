// Egress: the same Python code making HTTPS requests to a local upstream, once directly from the
// host and once from a box through kiln's egress proxy; the difference of their p50s is the proxy's.
// The upstream starts before kiln: kiln must be told its address (KILN_EGRESS_ALLOW_ADDRESSES) and CA.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CertificateAuthority } from '../src/egress/ca.js';
import { KEY } from './kiln-process.js';
import { row, type Row } from './stats.js';

const EGRESS_N = 30;

export interface Upstream {
  port: number;
  caFile: string;
  close(): void;
}

/** An HTTPS server on 127.0.0.1 with a certificate from its own CA, written to `dir`/upstream-ca.pem. */
export async function startUpstream(dir: string): Promise<Upstream> {
  const ca = await CertificateAuthority.create('kiln bench upstream CA');
  const leaf = await ca.issue('localhost');
  const caFile = join(dir, 'upstream-ca.pem');
  writeFileSync(caFile, ca.certPem);
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, caFile, close: () => server.close() };
}

export async function measureEgress(url: (path: string) => string, upstream: Upstream): Promise<{ direct: Row; proxied: Row }> {
  const code = `
import json, os, ssl, sys, time, urllib.request
for name in ("no_proxy", "NO_PROXY"):
    os.environ.pop(name, None)  # send localhost through the proxy when there is one
context = ssl.create_default_context(cafile=os.environ.get("BENCH_CA"))
latencies = []
for _ in range(${EGRESS_N}):
    started = time.perf_counter()
    urllib.request.urlopen("https://localhost:${upstream.port}/", context=context).read()
    latencies.append((time.perf_counter() - started) * 1000)
print(json.dumps(latencies))`;
  // Not spawnSync: the upstream lives in this process and must keep answering.
  const direct = await new Promise<string>((resolve) => {
    const child = spawn('python3', ['-c', code], { env: { PATH: process.env.PATH, BENCH_CA: upstream.caFile } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('close', () => resolve(stdout));
  });
  const boxed = (await fetch(url('/v1/execute'), {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ language: 'python', code, http: { allow: [{ host: 'localhost', auth: { bearer: { token: 'bench' } } }] } }),
  }).then((r) => r.json())) as { stdout: string };
  return {
    direct: row('egress: direct HTTPS request (host)', JSON.parse(direct || '[]')),
    proxied: row('egress: proxied HTTPS request (box → proxy)', JSON.parse(boxed.stdout || '[]')),
  };
}

export function egressLine({ direct, proxied }: { direct: Row; proxied: Row }): string {
  return `egress: proxy overhead +${(proxied.p50 - direct.p50).toFixed(1)} ms per HTTPS request at p50 (direct ${direct.p50.toFixed(1)} ms, proxied ${proxied.p50.toFixed(1)} ms)`;
}
