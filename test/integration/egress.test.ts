// Egress through kiln's proxy, end to end with real boxes: test upstreams on 127.0.0.1 with a test CA,
// names resolved to them by the proxy's test setting, and only their ports opened in the address policy.
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/egress/ca.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

const HOSTS = ['api.test.internal', 'other.test.internal', 'svc.sub.test.internal', 'sub.test.internal', 'test.internal'];
/** A name the proxy resolves to 127.0.0.1, where kiln's API listens: must stay refused. */
const LOOPBACK_NAME = 'kiln-api.test.internal';
const TOKEN = 'sk-test-9f8e7d6c5b4a-never-in-the-box';

interface Seen {
  host: string;
  path: string;
  authorization?: string;
  apiKey?: string;
  method: string;
}
const seen: Seen[] = [];
const record = (req: http.IncomingMessage, res: http.ServerResponse) => {
  seen.push({
    host: String(req.headers.host).replace(/:\d+$/, ''),
    path: req.url ?? '',
    authorization: req.headers.authorization,
    apiKey: req.headers['x-api-key'] as string | undefined,
    method: req.method ?? '',
  });
  // answers what was asked, never the credentials it saw
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, path: req.url }));
};

let upstreamHttps: https.Server;
let upstreamHttp: http.Server;
let hp: number;
let pp: number;
let kiln: TestKiln;

beforeAll(async () => {
  const testCa = await CertificateAuthority.create('kiln test upstream CA');
  const contexts = Object.fromEntries(
    await Promise.all(
      HOSTS.map(async (h) => [h, createSecureContext(await testCa.issue(h).then((l) => ({ cert: l.certPem, key: l.keyPem })))]),
    ),
  );
  upstreamHttps = https.createServer({ SNICallback: (name, cb) => cb(null, contexts[name]) }, record);
  upstreamHttp = http.createServer(record);
  await Promise.all([upstreamHttps, upstreamHttp].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
  hp = (upstreamHttps.address() as AddressInfo).port;
  pp = (upstreamHttp.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-egress-'));
  writeFileSync(join(dir, 'upstream-ca.pem'), testCa.certPem);
  kiln = await startTestKiln({
    KILN_DATA_DIR: join(dir, 'data'),
    KILN_EGRESS_UPSTREAM_CA_FILE: join(dir, 'upstream-ca.pem'),
    KILN_EGRESS_RESOLVE: JSON.stringify(Object.fromEntries([...HOSTS, LOOPBACK_NAME].map((h) => [h, '127.0.0.1']))),
    // only the test's own upstreams; kiln's API port on 127.0.0.1 stays refused
    KILN_EGRESS_ALLOW_ADDRESSES: `127.0.0.1:${hp},127.0.0.1:${pp}`,
  });
});
afterAll(async () => {
  await kiln?.close();
  upstreamHttps?.close();
  upstreamHttp?.close();
});

const run = (language: string, code: string, allow: unknown[], extra: Record<string, unknown> = {}) =>
  kiln.post('/v1/execute', { language, code, http: { allow }, limits: { execution_timeout: 20 }, ...extra });
const since = (n: number) => seen.slice(n);

describe('egress: the credential is injected outside the box', () => {
  it('Python urllib reaches an HTTPS upstream with bearer auth; no trace of the token in the box', async () => {
    const before = seen.length;
    const code = `
import os, urllib.request
r = urllib.request.urlopen("https://api.test.internal:${hp}/v1/data?x=1")
print("BODY", r.read().decode())
print("HEADERS", dict(r.headers))
print("ENV", dict(os.environ))
hits = []
for root in ("/tmp", "/mnt/req", "/opt", "/etc"):
    for dirpath, dirs, files in os.walk(root):
        for name in files:
            try:
                if b"${TOKEN}" in open(os.path.join(dirpath, name), "rb").read(1 << 20):
                    hits.append(os.path.join(dirpath, name))
            except OSError:
                pass
for name in ("environ", "cmdline"):
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if b"${TOKEN}" in open("/proc/%s/%s" % (pid, name), "rb").read():
                hits.append("/proc/%s/%s" % (pid, name))
        except OSError:
            pass
print("HITS", hits)
`;
    const res = await run('python', code, [{ host: 'api.test.internal', auth: { bearer: { token: TOKEN } } }]);
    expect(res.body.exit_code).toBe(0);
    expect(res.body.stdout).toContain('BODY {"ok":true,"path":"/v1/data?x=1"}');
    expect(res.body.stdout).toContain('HITS []');
    expect(JSON.stringify(res.body)).not.toContain(TOKEN);
    expect(since(before)).toEqual([{ host: 'api.test.internal', path: '/v1/data?x=1', authorization: `Bearer ${TOKEN}`, method: 'GET' }]);
  });

  it('injects each kind of auth exactly as specified', async () => {
    const before = seen.length;
    const code = `
for (const url of ["https://api.test.internal:${hp}/basic", "https://other.test.internal:${hp}/header",
                   "https://svc.sub.test.internal:${hp}/alias", "http://sub.test.internal:${pp}/query?keep=1"]) {
  const r = await fetch(url, { headers: { authorization: "Bearer forged-by-the-code" } });
  console.log(r.status);
}`;
    const res = await run('javascript', code, [
      { host: 'api.test.internal', auth: { basic: { user_id: 'alice', password: 's3cret:pw' } } },
      { host: 'other.test.internal', auth: { header: { name: 'X-Api-Key', value: 'key-value' } } },
      { host: 'svc.sub.test.internal', auth: { header: { name: 'X-Api-Key', token: 'key-token' } } },
      { host: 'sub.test.internal', auth: { query: { key: 'api_key', value: 'q-secret' } } },
    ]);
    expect(res.body.stdout).toBe('200\n200\n200\n200\n');
    const got = since(before);
    expect(got[0]).toMatchObject({
      host: 'api.test.internal',
      authorization: `Basic ${Buffer.from('alice:s3cret:pw').toString('base64')}`,
    });
    expect(got[1]).toMatchObject({ host: 'other.test.internal', apiKey: 'key-value', authorization: 'Bearer forged-by-the-code' });
    expect(got[2]).toMatchObject({ host: 'svc.sub.test.internal', apiKey: 'key-token' });
    expect(got[3]).toMatchObject({ host: 'sub.test.internal', path: '/query?keep=1&api_key=q-secret' });
  });
});

describe('egress: execute-function', () => {
  it('lets execute() call an allowed API and return what it answered', async () => {
    const res = await kiln.post('/v1/execute-function', {
      language: 'python',
      code: `import json, urllib.request\ndef execute(input):\n    with urllib.request.urlopen("https://api.test.internal:${hp}" + input["path"]) as r:\n        return json.load(r)`,
      input: { path: '/fn' },
      http: { allow: [{ host: 'api.test.internal', auth: { bearer: { token: TOKEN } } }] },
    });
    expect(res.body).toMatchObject({ output: { ok: true, path: '/fn' }, output_status: 'valid' });
    expect(JSON.stringify(res.body)).not.toContain(TOKEN);
  });
});

describe('egress: clients', () => {
  it('Node fetch, https and http all go through the proxy with no set-up by the code', async () => {
    const code = `
const https = require("node:https"), http = require("node:http");
const get = (mod, url) => new Promise((ok) => mod.get(url, (r) => { let d = ""; r.on("data", (c) => (d += c)); r.on("end", () => ok(r.statusCode + " " + d)); }).on("error", (e) => ok("ERR " + e.message)));
console.log("fetch", (await fetch("https://api.test.internal:${hp}/f")).status);
console.log("https", await get(https, "https://api.test.internal:${hp}/h"));
console.log("http", await get(http, "http://api.test.internal:${pp}/p"));`;
    const res = await run('javascript', code, [{ host: 'api.test.internal' }]);
    expect(res.body.stdout).toBe('fetch 200\nhttps 200 {"ok":true,"path":"/h"}\nhttp 200 {"ok":true,"path":"/p"}\n');
    expect(res.body.stderr).toBe('');
  });

  it('TypeScript and Python plain HTTP work the same way', async () => {
    const ts = await run('typescript', `const r: Response = await fetch("https://api.test.internal:${hp}/ts"); console.log(r.status);`, [
      { host: 'api.test.internal' },
    ]);
    expect(ts.body.stdout).toBe('200\n');
    const py = await run('python', `import urllib.request\nprint(urllib.request.urlopen("http://api.test.internal:${pp}/plain").status)`, [
      { host: 'api.test.internal' },
    ]);
    expect(py.body.stdout).toBe('200\n');
  });
});

describe('egress: what is denied, and how it looks', () => {
  it('a host outside http.allow gets a 403 naming it; the execution goes on', async () => {
    const py = await run(
      'python',
      `import urllib.request, urllib.error
try:
    urllib.request.urlopen("https://other.test.internal:${hp}/x")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
print("went on")`,
      [{ host: 'api.test.internal' }],
    );
    expect(py.body.exit_code).toBe(0);
    expect(py.body.stdout).toBe('403 kiln egress: other.test.internal is not in http.allow for this execution\nwent on\n');
    const js = await run(
      'javascript',
      `const r = await fetch("http://other.test.internal:${pp}/"); console.log(r.status, (await r.text()).trim());`,
      [],
    );
    expect(js.body.stdout).toBe('403 kiln egress: other.test.internal is not in http.allow for this execution\n');
  });

  it('wildcards match subdomains only; exact names match only themselves', async () => {
    const code = `for (const h of ["api.test.internal", "svc.sub.test.internal", "test.internal"]) console.log(h, (await fetch("https://" + h + ":${hp}/")).status);`;
    const wild = await run('javascript', code, [{ host: '*.test.internal' }]);
    expect(wild.body.stdout).toBe('api.test.internal 200\nsvc.sub.test.internal 200\ntest.internal 403\n');
    const exact = await run('javascript', code, [{ host: 'test.internal' }]);
    expect(exact.body.stdout).toBe('api.test.internal 403\nsvc.sub.test.internal 403\ntest.internal 200\n');
  });

  it("allow: * never opens kiln's own API or other loopback ports", async () => {
    const port = new URL(kiln.url).port;
    // NO_PROXY sends 127.0.0.1 to the box's own loopback; a hostile program forces the proxy instead.
    const code = `
import os, urllib.request, urllib.error
for name in ("no_proxy", "NO_PROXY"):
    os.environ.pop(name, None)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://127.0.0.1:3128", "https": "http://127.0.0.1:3128"}))
for url in ["http://127.0.0.1:${port}/healthz", "http://localhost:${port}/healthz", "https://127.0.0.1:${port}/", "http://${LOOPBACK_NAME}:${port}/healthz", "http://[::1]:${port}/",
            "http://[::127.0.0.1]:${port}/healthz", "http://[::7f00:1]:${port}/healthz"]:
    try:
        print(opener.open(url, timeout=5).status)
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode().strip())`;
    const res = await run('python', code, [{ host: '*' }]);
    const lines = res.body.stdout.trim().split('\n');
    expect(lines, res.body.stderr).toHaveLength(7);
    // the box learns which host was refused and why in general, never what kiln resolved a name to
    for (const line of lines)
      expect(line).toMatch(
        /^403 kiln egress: the address policy refused \S+ \(a private, loopback or reserved address; KILN_EGRESS_ALLOW_ADDRESSES allows one\)$/,
      );
    expect(lines[3]).toContain(`refused ${LOOPBACK_NAME} (`);
    expect(lines[1]).toContain('refused localhost (');
  });

  it("one execution's allow-list and credentials never serve another", async () => {
    const before = seen.length;
    const code = `const r = await fetch("https://api.test.internal:${hp}/who"); console.log(r.status);`;
    const [a, b, c] = await Promise.all([
      run('javascript', code, [{ host: 'api.test.internal', auth: { bearer: { token: 'token-A' } } }]),
      run('javascript', code, []),
      run('javascript', code, [{ host: 'api.test.internal', auth: { bearer: { token: 'token-C' } } }]),
    ]);
    expect([a.body.stdout, b.body.stdout, c.body.stdout]).toEqual(['200\n', '403\n', '200\n']);
    expect(
      since(before)
        .map((s) => s.authorization)
        .sort(),
    ).toEqual(['Bearer token-A', 'Bearer token-C']);
  });
});

describe('egress: many connections', () => {
  it('survives more connections than the box has file descriptors (each one is closed)', async () => {
    const code = `
import urllib.request
ok = 0
for i in range(1100):
    with urllib.request.urlopen("http://api.test.internal:${pp}/n%d" % i) as r:
        ok += r.status == 200
print(ok)`;
    const res = await run('python', code, [{ host: 'api.test.internal' }], { limits: { execution_timeout: 60 } });
    expect(res.body.stderr).toBe('');
    expect(res.body).toMatchObject({ exit_code: 0, stdout: '1100\n' });
  });
});

describe('egress: nothing else is reachable', () => {
  it('a box with http.allow still has only loopback, resolves no names, and cannot reach the API port', async () => {
    const port = new URL(kiln.url).port;
    const code = `
import json, socket
report = {"interfaces": sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])}
try:
    socket.getaddrinfo("api.test.internal", 443); report["dns"] = "resolved"
except OSError as e:
    report["dns"] = type(e).__name__
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", ${port})); report["api"] = "connected"
except OSError as e:
    report["api"] = type(e).__name__
print(json.dumps(report))`;
    const res = await run('python', code, [{ host: '*' }]);
    expect(JSON.parse(res.body.stdout)).toEqual({ interfaces: ['lo'], dns: 'gaierror', api: 'ConnectionRefusedError' });
    expect(res.ms).toBeLessThan(8000);
  });

  it('counts proxied requests by decision', async () => {
    const text = await (await fetch(`${kiln.url}/metrics`)).text();
    expect(Number(/kiln_egress_requests_total\{decision="allowed"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(5);
    expect(Number(/kiln_egress_requests_total\{decision="denied_host"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(2);
    expect(Number(/kiln_egress_requests_total\{decision="refused_address"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(3);
  });
});
