// The egress proxy in process: connections handed to it as the tunnel would, a plain-HTTP upstream
// on 127.0.0.1 opened by the address policy, and the log it writes. No Docker.
import http from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy } from '../../src/egress/address-policy.js';
import { CertificateAuthority } from '../../src/egress/ca.js';
import { createEgressProxy, type EgressSession } from '../../src/egress/proxy.js';
import { createMetrics } from '../../src/metrics.js';

const TOKEN = 'tok-unit-5e5e5e';
const logLines: string[] = [];
const seen: http.IncomingHttpHeaders[] = [];
let upstream: http.Server;
let front: Server;
let upstreamPort: number;
let proxyPort: number;
const metrics = createMetrics();
let session: EgressSession;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end(`upstream saw ${req.url}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamPort = (upstream.address() as AddressInfo).port;
  const log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (logLines.push(String(chunk)), done()) }));
  const proxy = createEgressProxy({
    ca: await CertificateAuthority.create(),
    log,
    metrics,
    policy: createAddressPolicy({ allow: `127.0.0.1:${upstreamPort}`, resolve: { 'api.unit.test': '127.0.0.1' } }),
  });
  session = { executionId: 'exec_unit', rules: [{ host: 'api.unit.test', auth: { bearer: { token: TOKEN } } }] };
  // stands in for the tunnel: every connection belongs to `session`
  front = createServer((socket) => proxy.serve(socket, session));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  proxyPort = (front.address() as AddressInfo).port;
});
afterAll(() => {
  upstream.close();
  front.close();
});

function viaProxy(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('egress proxy', () => {
  it('forwards an allowed request with the credential injected', async () => {
    const res = await viaProxy(`http://api.unit.test:${upstreamPort}/items?a=1`);
    expect(res).toEqual({ status: 200, body: 'upstream saw /items?a=1' });
    expect(seen.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(seen.at(-1)?.host).toBe(`api.unit.test:${upstreamPort}`);
  });

  it('denies a host outside the allow-list with a 403 naming it', async () => {
    const res = await viaProxy(`http://other.unit.test:${upstreamPort}/`);
    expect(res).toEqual({ status: 403, body: 'kiln egress: other.unit.test is not in http.allow for this execution\n' });
  });

  it('refuses an address the policy does not open, even for an allowed host', async () => {
    session.rules = [{ host: '*' }];
    const res = await viaProxy(`http://127.0.0.1:${upstreamPort + 1}/`);
    expect(res.status).toBe(403);
    expect(res.body).toMatch(/not reachable from a sandbox \((.*loopback.*|.*this host)\)/);
  });

  it('logs each request with execution, host, decision and status, never a credential', () => {
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => [e.execution, e.host, e.decision, e.status])).toEqual([
      ['exec_unit', 'api.unit.test', 'allowed', 200],
      ['exec_unit', 'other.unit.test', 'denied_host', 403],
      ['exec_unit', '127.0.0.1', 'refused_address', 403],
    ]);
    expect(logLines.join('')).not.toContain(TOKEN);
  });
});
