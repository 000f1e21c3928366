// The egress proxy in process: connections handed to it as the tunnel would, a plain-HTTP upstream
// on 127.0.0.1 opened by the address policy, and the log it writes. No Docker.
import http from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy } from '../../../src/egress/address-policy.js';
import { CertificateAuthority } from '../../../src/egress/ca.js';
import { createEgressProxy, DENIED_TLS_HOSTS, type EgressSession } from '../../../src/egress/proxy.js';
import { createMetrics } from '../../../src/metrics.js';

const TOKEN = 'tok-unit-5e5e5e';
const logLines: string[] = [];
const seen: http.IncomingHttpHeaders[] = [];
const paths: string[] = [];
let upstream: http.Server;
let front: Server;
let upstreamPort: number;
let proxyPort: number;
const metrics = createMetrics();
let session: EgressSession;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    paths.push(req.url ?? '');
    req.resume();
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

/** Sends raw bytes to the proxy; resolves with what came back within 500 ms. */
function raw(data: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(proxyPort, '127.0.0.1', () => socket.write(data));
    let reply = '';
    socket.on('data', (d) => (reply += d));
    socket.on('error', () => {});
    setTimeout(() => (socket.destroy(), resolve(reply)), 500);
  });
}

/** The proxy's answer to `CONNECT authority`: its status line and headers (and a refusal's body). */
function connectReply(authority: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(proxyPort, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let reply = '';
    const done = () => (socket.destroy(), resolve(reply));
    socket.on('data', (d) => {
      reply += d;
      if (/^HTTP\/1\.1 200/.test(reply) && reply.includes('\r\n\r\n')) done(); // the tunnel is open
    });
    socket.on('close', done);
    socket.on('error', () => {});
    setTimeout(done, 2000);
  });
}

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
    expect(res.body).toBe(
      'kiln egress: the address policy refused 127.0.0.1 (a private, loopback or reserved address; KILN_EGRESS_ALLOW_ADDRESSES allows one)\n',
    );
  });

  it('frames a GET body the code sent chunked, so no second request can be smuggled upstream', async () => {
    session.rules = [{ host: 'api.unit.test' }];
    const before = paths.length;
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: api.unit.test\r\n\r\n';
    const reply = await raw(
      `GET http://api.unit.test:${upstreamPort}/a HTTP/1.1\r\nHost: api.unit.test\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 100));
    expect(paths.slice(before)).toEqual(['/a']);
  });

  it.each(['x%.unit.test:80', 'evil.example/@api.unit.test:80', 'api.unit.test:0', '[not-ip]:443'])(
    'answers 400 to CONNECT %s, and keeps running',
    async (authority) => {
      session.rules = [{ host: '*' }];
      expect(await raw(`CONNECT ${authority} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400/);
    },
  );

  it(`opens tunnels to ${DENIED_TLS_HOSTS} distinct denied hosts (their 403 comes over TLS), then refuses the rest outright`, async () => {
    const saved = session;
    session = { executionId: 'exec_many_denied', rules: [{ host: 'api.unit.test' }] };
    try {
      for (let i = 0; i < DENIED_TLS_HOSTS; i++) expect(await connectReply(`h${i}.denied.test:443`)).toMatch(/^HTTP\/1\.1 200/);
      // a box cycling through made-up names costs kiln no more certificates
      const refused = await connectReply(`h${DENIED_TLS_HOSTS}.denied.test:443`);
      expect(refused).toMatch(/^HTTP\/1\.1 403/);
      expect(refused).toContain(`h${DENIED_TLS_HOSTS}.denied.test is not in http.allow`);
      // a denied host it already let through still gets its readable 403; an allowed host always gets through
      expect(await connectReply('h0.denied.test:443')).toMatch(/^HTTP\/1\.1 200/);
      expect(await connectReply('api.unit.test:443')).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      session = saved;
    }
  });

  it('refuses TRACE, which would echo the credential back', async () => {
    session.rules = [{ host: 'api.unit.test', auth: { bearer: { token: TOKEN } } }];
    expect(await raw(`TRACE http://api.unit.test:${upstreamPort}/ HTTP/1.1\r\nHost: api.unit.test\r\n\r\n`)).toMatch(/^HTTP\/1\.1 405/);
  });

  it('logs each request with execution, host, decision and status, never a credential', () => {
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.slice(0, 3).map((e) => [e.execution, e.host, e.decision, e.status])).toEqual([
      ['exec_unit', 'api.unit.test', 'allowed', 200],
      ['exec_unit', 'other.unit.test', 'denied_host', 403],
      ['exec_unit', '127.0.0.1', 'refused_address', 403],
    ]);
    expect(logLines.join('')).not.toContain(TOKEN);
  });
});

describe('egress proxy: address refusals', () => {
  const lastRefusal = () =>
    logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.decision === 'refused_address')
      .at(-1);

  it('tells the box the host it asked for and the setting, never the address a name resolved to; the log has both', async () => {
    session.rules = [{ host: '*' }];
    const res = await viaProxy(`http://api.unit.test:${upstreamPort + 1}/`);
    expect(res).toEqual({
      status: 403,
      body: 'kiln egress: the address policy refused api.unit.test (a private, loopback or reserved address; KILN_EGRESS_ALLOW_ADDRESSES allows one)\n',
    });
    expect(lastRefusal()).toMatchObject({ host: 'api.unit.test', why: expect.stringContaining('127.0.0.1') });
  });

  // a port the policy does not open: refused, so nothing is sent (::7f00:1 would not even stay on this machine)
  it.each(['[::127.0.0.1]', '[::7f00:1]', '[0:0:0:0:0:0:127.0.0.1]', '[::ffff:127.0.0.1]'])(
    'refuses %s, an IPv6 spelling of 127.0.0.1, in a plain request and inside CONNECT',
    async (host) => {
      session.rules = [{ host: '*' }];
      const before = seen.length;
      const plain = await viaProxy(`http://${host}:${upstreamPort + 1}/`);
      expect(plain.status).toBe(403);
      expect(plain.body).toMatch(
        /^kiln egress: the address policy refused \S+ \(a private, loopback or reserved address; KILN_EGRESS_ALLOW_ADDRESSES allows one\)\n$/,
      );
      const tunnelled = await raw(`CONNECT ${host}:${upstreamPort + 1} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(tunnelled).toMatch(/^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 403[\s\S]*the address policy refused/);
      expect(seen.length).toBe(before);
    },
  );

  it("keeps a build session's refusals, one per host, and names its setting", async () => {
    const saved = session;
    const build: EgressSession = {
      executionId: 'build_unit',
      rules: [{ host: '*' }],
      refused: [],
      allowSetting: 'KILN_BUILD_ALLOW_ADDRESSES',
    };
    session = build;
    try {
      const res = await viaProxy(`http://api.unit.test:${upstreamPort + 1}/a`);
      expect(res.body).toContain('KILN_BUILD_ALLOW_ADDRESSES allows one');
      await viaProxy(`http://api.unit.test:${upstreamPort + 1}/b`);
      await viaProxy(`http://127.0.0.1:${upstreamPort + 1}/`);
      expect(build.refused!.map((r) => [r.host, r.why.includes('127.0.0.1')])).toEqual([
        ['api.unit.test', true],
        ['127.0.0.1', true],
      ]);
    } finally {
      session = saved;
    }
  });
});
