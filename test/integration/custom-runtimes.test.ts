import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/egress/ca.js';
import { startNpmRegistry, startPythonIndex, type PackageSource } from '../helpers/package-sources.js';
import { docker, removeTestImages, startTestKiln, TEST_INSTANCE, TEST_KEY, TEST_OCI_RUNTIME, type TestKiln } from '../helpers/kiln.js';
import { EVIL_POSTINSTALL } from '../fixtures/hostile/evil-postinstall.js';

/**
 * Custom runtimes against the real engine, from package sources on 127.0.0.1 as an air-gapped user's
 * mirror would be: a PEP 503 index with a wheel built by the test, and an npm registry whose packages
 * the test made (one of them hostile).
 */
let py: PackageSource;
let npm: PackageSource;
let kiln: TestKiln;
let kilnPort: number;
const SECRET_VALUE = `kiln-secret-${process.pid}-do-not-leak`;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** Polls a runtime until its build has ended. */
async function built(id: string, ms = 150_000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { body } = await kiln.request('GET', `/v1/runtimes/${id}`);
    if (!['pending', 'building'].includes(body.status) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 300));
  }
}
const create = async (body: object) => {
  const res = await kiln.request('POST', '/v1/runtimes', body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const python = (contents: string, extra: object = {}) => ({
  name: 'py',
  language: 'python',
  manifest_file: { name: 'requirements.txt', contents },
  ...extra,
});
const node = (deps: Record<string, string>) => ({
  name: 'js',
  language: 'javascript',
  manifest_file: { name: 'package.json', contents: JSON.stringify({ dependencies: deps }) },
});

beforeAll(async () => {
  kilnPort = await freePort();
  py = await startPythonIndex([
    { name: 'kilnpkg', version: '1.0.0', files: { 'kilnpkg/__init__.py': 'VALUE = 42\ndef double(x):\n    return 2 * x\n' } },
    { name: 'kiln-broken', version: '1.0.0', files: { 'kiln_broken/__init__.py': 'raise ImportError("kiln_broken refuses to load")\n' } },
  ]);
  npm = await startNpmRegistry([
    {
      name: 'kiln-left-pad',
      version: '1.0.0',
      files: { 'index.js': 'module.exports = (s, n) => String(s).padStart(n);\n' },
      packageJson: { main: 'index.js' },
    },
    {
      name: 'kiln-evil',
      version: '1.0.0',
      files: { 'index.js': 'module.exports = 1;\n', 'hack.js': EVIL_POSTINSTALL(kilnPort) },
      packageJson: { main: 'index.js', scripts: { postinstall: 'node hack.js' } },
    },
  ]);
  kiln = await startTestKiln({
    PORT: String(kilnPort),
    KILN_PIP_INDEX_URL: py.url,
    KILN_NPM_REGISTRY: npm.url,
    KILN_RUNTIME_POOL_SIZE: '1',
    KILN_RUNTIME_POOL_IDLE_SECONDS: '3',
    KILN_BUILD_TIMEOUT_SECONDS: '120',
  });
}, 120_000);

afterAll(async () => {
  await kiln?.close();
  await py?.close();
  await npm?.close();
  await removeTestImages();
});

describe('a Python runtime from a requirements.txt on a mirror', () => {
  let rt: any;
  beforeAll(async () => {
    rt = await create(python('kilnpkg==1.0.0\n', { additional_python_imports: 'import kilnpkg' }));
    expect(rt.status).toBe('pending');
    rt = await built(rt.id);
  }, 180_000);

  it("builds, with pip's own log readable", async () => {
    expect(rt.status).toBe('succeeded');
    const { body } = await kiln.request('GET', `/v1/runtimes/${rt.id}/revisions/${rt.revision_id}/logs`);
    expect(body.status).toBe('succeeded');
    expect(body.log).toContain('Successfully installed kilnpkg-1.0.0');
    expect(body.log).toContain('imported kilnpkg');
    expect(py.requests).toContain('GET /simple/kilnpkg/');
  });

  it('runs code that imports the package through execute, execute-function and a tool; stock Python cannot', async () => {
    const script = await kiln.post('/v1/execute', {
      language: 'python',
      code: 'import kilnpkg\nprint(kilnpkg.VALUE)',
      runtime_revision_id: rt.revision_id,
    });
    expect(script.body).toMatchObject({ exit_code: 0, stdout: '42\n' });
    const fn = await kiln.post('/v1/execute-function', {
      language: 'python',
      code: 'import kilnpkg\ndef execute(input):\n    return kilnpkg.double(input)\n',
      input: 21,
      runtime_revision_id: rt.revision_id,
    });
    expect(fn.body).toMatchObject({ output: 42, output_status: 'valid' });
    const tool = await kiln.request('POST', '/v1/tools', {
      name: 'double',
      language: 'python',
      code: 'import kilnpkg\ndef execute(input):\n    return kilnpkg.double(input["n"])\n',
      runtime_revision_id: rt.revision_id,
    });
    expect(tool.status).toBe(200);
    const ran = await kiln.request('POST', `/v1/tools/${tool.body.id}/execute`, { input: { n: 5 } });
    expect(ran.body).toMatchObject({ output: 10, output_status: 'valid' });
    // and a stock box never has it, however warm the revision's pool is
    const stock = await kiln.post('/v1/execute', { language: 'python', code: 'import kilnpkg' });
    expect(stock.body.exit_code).toBe(1);
    expect(stock.body.stderr).toContain("No module named 'kilnpkg'");
  });

  it('runs in a box as locked down as a stock one; the packages are root-owned and read-only', async () => {
    const check = [
      'import os, kilnpkg',
      'st = os.stat(kilnpkg.__file__)',
      'print(os.getuid(), st.st_uid, oct(st.st_mode & 0o7777))',
      'try:\n    open(kilnpkg.__file__, "a")\nexcept OSError:\n    print("refused")',
    ].join('\n');
    const res = await kiln.post('/v1/execute', { language: 'python', code: check, runtime_revision_id: rt.revision_id });
    expect(res.body.stdout).toBe('10001 0 0o644\nrefused\n');
    // the revision's warm box (its pool was made on first use) carries every hardening flag
    const [box] = (await docker.listContainers({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } })).filter((c) =>
      c.Labels['kiln.pool']?.startsWith('python@'),
    );
    expect(box, 'a warm box of the revision').toBeDefined();
    const info = await docker.getContainer(box!.Id).inspect();
    expect(info.Config.Image).toMatch(/^kiln-runtime:[0-9a-f]{32}-p\d+$/);
    expect(info.Config.User).toBe('10001:10001');
    expect(info.HostConfig).toMatchObject({ ReadonlyRootfs: true, NetworkMode: 'none', CapDrop: ['ALL'], Privileged: false });
    expect(info.HostConfig.SecurityOpt[0]).toBe('no-new-privileges');
    expect(info.HostConfig.SecurityOpt).toHaveLength(TEST_OCI_RUNTIME === 'runsc' ? 2 : 1); // runsc: kiln's seccomp profile
    expect(info.Config.Env).toContain('KILN_PREIMPORT=kilnpkg');
  });

  it("removes the revision's warm pool after it goes unused", async () => {
    const pooled = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } })).filter((c) =>
        c.Labels['kiln.pool']?.startsWith('python@'),
      );
    expect((await pooled()).length).toBeGreaterThan(0);
    const deadline = Date.now() + 20_000;
    while ((await pooled()).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(await pooled()).toEqual([]);
    // and the next run makes it again, answering all the same
    const res = await kiln.post('/v1/execute', {
      language: 'python',
      code: 'import kilnpkg\nprint(kilnpkg.VALUE)',
      runtime_revision_id: rt.revision_id,
    });
    expect(res.body.stdout).toBe('42\n');
  });

  it('builds equal content once: a second runtime with the same packages is succeeded at once', async () => {
    const again = await create(python('# the same, written otherwise\nkilnpkg==1.0.0  \n', { additional_python_imports: 'kilnpkg' }));
    expect(again.status).toBe('succeeded');
    const images = await docker.listImages({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
    expect(images.filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith('kiln-runtime:'))).length).toBe(1);
  });
});

describe('images no revision names', () => {
  it('are removed once their runtime is deleted', async () => {
    const rt = await built((await create(python('kilnpkg==1.0.0\n'))).id);
    expect(rt.status).toBe('succeeded');
    const tags = async () =>
      (await docker.listImages({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } })).flatMap((i) => i.RepoTags ?? []);
    const before = await tags();
    expect((await kiln.request('DELETE', `/v1/runtimes/${rt.id}`)).status).toBe(200);
    const deadline = Date.now() + 15_000;
    while ((await tags()).length >= before.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    expect((await tags()).length).toBe(before.length - 1);
  });
});

describe("an image missing from the engine (removed outside kiln, or built on another replica's engine)", () => {
  it('makes runs on it a 503 to retry while kiln builds it again by itself; then they run', async () => {
    const tags = async () =>
      new Set((await docker.listImages({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } })).flatMap((i) => i.RepoTags ?? []));
    const before = await tags();
    const manifest = python('kilnpkg==1.0.0\n', { additional_python_imports: 'kilnpkg, os' });
    const rt = await built((await create(manifest)).id);
    expect(rt.status).toBe('succeeded');
    const made = [...(await tags())].filter((t) => !before.has(t));
    expect(made).toHaveLength(1);
    // a memory limit of its own: a fresh box, so that no warm box holds the image
    const run = () =>
      kiln.post('/v1/execute', {
        language: 'python',
        code: 'import kilnpkg\nprint(kilnpkg.VALUE)',
        runtime_revision_id: rt.revision_id,
        limits: { memory_size: 96 },
      });
    expect((await run()).body.stdout).toBe('42\n');
    await docker.getImage(made[0]!).remove({ force: true }); // as an operator's `docker rmi -f` would
    const gone = await run();
    expect(gone.status).toBe(503);
    expect(gone.body.message).toMatch(/not on this engine|being built on this kiln's engine/);
    // the revision stays succeeded in the store; this engine gets its image back on its own
    let again = gone;
    for (const deadline = Date.now() + 150_000; again.status === 503 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 1000));
      again = await run();
    }
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.stdout).toBe('42\n');
    expect((await kiln.request('GET', `/v1/runtimes/${rt.id}`)).body.status).toBe('succeeded');
    expect(await tags()).toContain(made[0]); // the same tag, built again
  });
});

describe('failed builds say why', () => {
  it("a missing version fails with pip's own words, and code on it gets a 400 quoting them", async () => {
    const rt = await built((await create(python('kilnpkg==9.9.9\n'))).id);
    expect(rt.status).toBe('failed');
    expect(rt.failure_reason).toContain('No matching distribution found for kilnpkg==9.9.9');
    const run = await kiln.post('/v1/execute', { language: 'python', code: 'print(1)', runtime_revision_id: rt.revision_id });
    expect(run.status).toBe(400);
    expect(run.body.message).toContain('No matching distribution found');
  });

  it('an additional import that does not load fails the build with its traceback', async () => {
    const rt = await built((await create(python('kiln-broken==1.0.0\n', { additional_python_imports: 'kiln_broken' }))).id);
    expect(rt.status).toBe('failed');
    const { body } = await kiln.request('GET', `/v1/runtimes/${rt.id}/revisions/${rt.revision_id}/logs`);
    expect(body.log).toContain('kiln_broken refuses to load');
    expect(rt.failure_reason).toContain('additional_python_imports');
  });
});

describe('a JavaScript runtime from a package.json', () => {
  it('builds, and JavaScript and TypeScript import its packages', async () => {
    const rt = await built((await create(node({ 'kiln-left-pad': '^1.0.0' }))).id);
    expect(rt.status, rt.failure_reason).toBe('succeeded');
    const js = await kiln.post('/v1/execute', {
      language: 'javascript',
      code: 'import pad from "kiln-left-pad";\nconsole.log(pad("x", 3));',
      runtime_revision_id: rt.revision_id,
    });
    expect(js.body).toMatchObject({ exit_code: 0, stdout: '  x\n' });
    const ts = await kiln.post('/v1/execute-function', {
      language: 'typescript',
      code: 'import pad from "kiln-left-pad";\nexport function execute(input: { s: string }): string { return pad(input.s, 4); }',
      input: { s: 'ab' },
      runtime_revision_id: rt.revision_id,
    });
    expect(ts.body).toMatchObject({ output: '  ab', output_status: 'valid' });
    const wrong = await kiln.post('/v1/execute', { language: 'python', code: 'print(1)', runtime_revision_id: rt.revision_id });
    expect(wrong.status).toBe(400);
  });
});

describe('a malicious postinstall', () => {
  it('runs as the sandbox user with nothing of kiln: no secrets, no socket, no network but the package source', async () => {
    const secret = await kiln.request('POST', '/v1/secrets', { name: 'TOKEN', value: SECRET_VALUE });
    expect(secret.status).toBe(200);
    const rt = await built((await create(node({ 'kiln-evil': '1.0.0' }))).id);
    expect(rt.status, rt.failure_reason).toBe('succeeded');
    // what the hostile script found travelled into the image, beside it; the code reads it back
    const read = await kiln.post('/v1/execute', {
      language: 'javascript',
      code: 'import fs from "node:fs";\nconst p = "/mnt/node_modules/kiln-evil/";\nconst st = fs.statSync(p + "setuid-me");\nconsole.log(JSON.stringify({ ...JSON.parse(fs.readFileSync(p + "findings.json", "utf8")), setuidMode: st.mode & 0o7777, owner: st.uid }));',
      runtime_revision_id: rt.revision_id,
    });
    expect(read.body.exit_code, read.body.stderr).toBe(0);
    const found = JSON.parse(read.body.stdout);
    expect(found.uid).toBe(10001);
    expect(found.capEff).toBe('0000000000000000');
    expect(found.dockerSocket).toBe(false);
    expect(found.wroteEtc).toMatch(/^(EROFS|EACCES)$/); // read-only root (gVisor checks the permission first)
    // not a byte of kiln's environment or its secrets anywhere the build could read
    for (const text of [found.env, found.environs]) {
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain(TEST_KEY);
      expect(text).not.toContain('KILN_API_KEYS');
    }
    // no network of its own: nothing answers on the host's services, the metadata address, the bridge
    expect(found.direct['127.0.0.1:kiln']).toBe('ECONNREFUSED');
    expect(found.direct['169.254.169.254:80']).toMatch(/ENETUNREACH|EHOSTUNREACH|timeout/);
    expect(found.direct['172.17.0.1:2375']).toMatch(/ENETUNREACH|EHOSTUNREACH|timeout/);
    // through kiln's proxy: the package source only; kiln's own API on the same address is refused
    expect(found.proxied.registry).toBe(200);
    expect(found.proxied.kilnApi).toBe(403);
    expect(found.proxied.metadata).toBe(403);
    // the image holds what it installed, root-owned and never setuid
    expect(found.setuidMode & 0o6000).toBe(0);
    expect(found.owner).toBe(0);
  });
});

describe('builds that do not end by themselves', () => {
  // a package index that takes connections and never answers
  let tarpit: ReturnType<typeof createServer>;
  let tarpitUrl: string;
  const held = new Set<import('node:net').Socket>();
  beforeAll(async () => {
    tarpit = createServer((socket) => void held.add(socket));
    await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
    tarpitUrl = `http://127.0.0.1:${(tarpit.address() as { port: number }).port}/simple/`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of held) socket.destroy();
        tarpit.close(() => resolve());
      }),
  );

  it('fail at KILN_BUILD_TIMEOUT_SECONDS, saying so', async () => {
    const slow = await startTestKiln({ KILN_PIP_INDEX_URL: tarpitUrl, KILN_BUILD_TIMEOUT_SECONDS: '4' });
    try {
      const { body } = await slow.request('POST', '/v1/runtimes', python('kilnpkg\n'));
      const deadline = Date.now() + 30_000;
      let rt = body;
      while (['pending', 'building'].includes(rt.status) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 300));
        rt = (await slow.request('GET', `/v1/runtimes/${body.id}`)).body;
      }
      expect(rt.status).toBe('failed');
      expect(rt.failure_reason).toContain('KILN_BUILD_TIMEOUT_SECONDS');
    } finally {
      await slow.close();
    }
  });

  it('are resumed at the next start when kiln stopped during them, never left building', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-test-resume-'));
    const first = await startTestKiln({ KILN_DATA_DIR: dataDir, KILN_PIP_INDEX_URL: tarpitUrl });
    const { body } = await first.request('POST', '/v1/runtimes', python('kilnpkg==1.0.0\nkiln-broken==1.0.0\n'));
    let status = body.status;
    const deadline = Date.now() + 30_000;
    while (status !== 'building' && Date.now() < deadline) status = (await first.request('GET', `/v1/runtimes/${body.id}`)).body.status;
    expect(status).toBe('building');
    await first.close();
    const second = await startTestKiln({ KILN_DATA_DIR: dataDir, KILN_PIP_INDEX_URL: py.url });
    try {
      const end = Date.now() + 120_000;
      let rt = (await second.request('GET', `/v1/runtimes/${body.id}`)).body;
      while (['pending', 'building'].includes(rt.status) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 300));
        rt = (await second.request('GET', `/v1/runtimes/${body.id}`)).body;
      }
      expect(rt.status, rt.failure_reason).toBe('succeeded');
      const run = await second.post('/v1/execute', {
        language: 'python',
        code: 'import kilnpkg\nprint(kilnpkg.VALUE)',
        runtime_revision_id: body.revision_id,
      });
      expect(run.body.stdout).toBe('42\n');
    } finally {
      await second.close();
    }
  });
});

describe('a package source behind a private CA (a TLS-intercepting proxy, say)', () => {
  it('is trusted with KILN_BUILD_CA_FILE, and refused without it', async () => {
    const ca = await CertificateAuthority.create('kiln test package-source CA');
    const caFile = join(mkdtempSync(join(tmpdir(), 'kiln-test-ca-')), 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    const registry = await startNpmRegistry(
      [
        {
          name: 'kiln-left-pad',
          version: '1.0.0',
          files: { 'index.js': 'module.exports = (s, n) => String(s).padStart(n);\n' },
          packageJson: { main: 'index.js' },
        },
      ],
      await ca.issue('registry.kiln.test'),
    );
    // by name, as a mirror is (npm checks an IP-literal registry's certificate against "localhost"):
    // kiln's proxy resolves the name to the registry, an address builds alone may reach
    const port = new URL(registry.url).port;
    const attempt = async (env: Record<string, string>) => {
      const other = await startTestKiln({
        KILN_NPM_REGISTRY: `https://registry.kiln.test:${port}/`,
        KILN_EGRESS_RESOLVE: '{"registry.kiln.test":"127.0.0.1"}',
        KILN_BUILD_ALLOW_ADDRESSES: `127.0.0.1:${port}`,
        ...env,
      });
      try {
        const { body } = await other.request('POST', '/v1/runtimes', node({ 'kiln-left-pad': '1.0.0' }));
        const deadline = Date.now() + 120_000;
        let rt = body;
        while (['pending', 'building'].includes(rt.status) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 300));
          rt = (await other.request('GET', `/v1/runtimes/${body.id}`)).body;
        }
        return rt;
      } finally {
        await other.close();
      }
    };
    try {
      expect(registry.url).toMatch(/^https:/);
      // without the CA: kiln's proxy refuses the source's certificate, and npm says so
      const refused = await attempt({});
      expect(refused.status).toBe('failed');
      expect(refused.failure_reason).toMatch(/certificate|CERT|502/i);
      const trusted = await attempt({ KILN_BUILD_CA_FILE: caFile });
      expect(trusted.status, trusted.failure_reason).toBe('succeeded');
    } finally {
      await registry.close();
    }
  }, 240_000);
});

describe('a package source by a name that resolves to an address builds may not reach', () => {
  it("fails the build with kiln's refusal first (the host, KILN_BUILD_ALLOW_ADDRESSES), then npm's own words", async () => {
    const before = npm.requests.length;
    // the registry by name, its address not in KILN_BUILD_ALLOW_ADDRESSES: the proxy refuses it before connecting
    const other = await startTestKiln({
      KILN_NPM_REGISTRY: `http://registry.refused.test:${new URL(npm.url).port}/`,
      KILN_EGRESS_RESOLVE: '{"registry.refused.test":"127.0.0.1"}',
    });
    try {
      const { body } = await other.request('POST', '/v1/runtimes', node({ 'kiln-left-pad': '1.0.0' }));
      const deadline = Date.now() + 120_000;
      let rev = body;
      while (['pending', 'building'].includes(rev.status) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 300));
        rev = (await other.request('GET', `/v1/runtimes/${body.id}/revisions/${body.revision_id}`)).body;
      }
      expect(rev.status).toBe('failed');
      const [first, ...installer] = String(rev.failure_reason).split('\n');
      expect(first).toBe(
        'kiln egress: the address policy refused registry.refused.test (a private, loopback or reserved address; KILN_BUILD_ALLOW_ADDRESSES allows one)',
      );
      expect(installer.join('\n')).toMatch(/403/);
      expect(rev.failure_reason).not.toContain('127.0.0.1');
      expect(npm.requests.length).toBe(before);
    } finally {
      await other.close();
    }
  }, 240_000);
});
