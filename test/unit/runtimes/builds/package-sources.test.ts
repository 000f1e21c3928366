// The loopback package indexes of test/helpers/package-sources.ts, checked against the host's own
// pip and npm so a broken wheel or packument shows up here rather than inside a sandbox image
// build. No Docker.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNpmRegistry, startPythonIndex, type PackageSource } from '../../../helpers/package-sources.js';

const run = promisify(execFile);
const CHILD_TIMEOUT = 60_000;

// The indexes live on 127.0.0.1, so any proxy from the developer's shell could only get in the
// way, and PIP_*/npm_config_* variables (find-links, caches, registries) would make the installs
// depend on the host rather than on the index under test.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(https?_proxy|all_proxy|no_proxy|pip_|npm_config_)/i.test(k)),
);

const hasPip = spawnSync('python3', ['-m', 'pip', '--version'], { stdio: 'ignore', timeout: CHILD_TIMEOUT }).status === 0;
if (!hasPip) console.warn('package-sources.test: host `python3 -m pip` unavailable; skipping the pip install check');

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-pkgsrc-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('python simple index', () => {
  let index: PackageSource;
  beforeAll(async () => {
    index = await startPythonIndex([{ name: 'kilnpkg', version: '1.0.0', files: { 'kilnpkg/__init__.py': 'VALUE = 42\n' } }]);
  });
  afterAll(() => index.close());

  it('serves PEP 503 pages whose sha256 fragments match the wheels', async () => {
    expect(index.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/simple\/$/);
    expect(await (await fetch(index.url)).text()).toContain('<a href="kilnpkg/">kilnpkg</a>');
    // Non-normalized spellings reach the same project page.
    const page = await (await fetch(new URL('KilnPkg/', index.url))).text();
    const link = /href="([^"#]+)#sha256=([0-9a-f]{64})"/.exec(page);
    expect(link?.[1]).toBe('../../files/kilnpkg-1.0.0-py3-none-any.whl');
    const res = await fetch(new URL(link![1]!, new URL('kilnpkg/', index.url)));
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const wheel = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(wheel).digest('hex')).toBe(link![2]);
    expect((await fetch(new URL('nope/', index.url))).status).toBe(404);
  });

  it.skipIf(!hasPip)('installs with host pip and imports', { timeout: 2 * CHILD_TIMEOUT + 10_000 }, async () => {
    const target = await tempDir();
    await run(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--no-cache-dir',
        '--disable-pip-version-check',
        '--target',
        target,
        '--index-url',
        index.url,
        'kilnpkg==1.0.0',
      ],
      { env: { ...cleanEnv, PIP_CONFIG_FILE: '/dev/null' }, timeout: CHILD_TIMEOUT },
    );
    const { stdout } = await run(
      'python3',
      ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(target)}); import kilnpkg; print(kilnpkg.VALUE)`],
      { env: cleanEnv, timeout: CHILD_TIMEOUT },
    );
    expect(stdout.trim()).toBe('42');
    expect(index.requests).toContain('GET /simple/kilnpkg/');
    expect(index.requests).toContain('GET /files/kilnpkg-1.0.0-py3-none-any.whl');
  });
});

describe('npm registry', () => {
  let registry: PackageSource;
  beforeAll(async () => {
    const leftPad = {
      name: 'kiln-left-pad',
      files: { 'index.js': 'module.exports = (s, n) => String(s).padStart(n)\n' },
      packageJson: { main: 'index.js' },
    };
    registry = await startNpmRegistry([
      { ...leftPad, version: '1.0.0' },
      { ...leftPad, version: '0.9.0' },
      { name: '@kiln/scoped', version: '2.0.0', files: { 'lib/index.js': 'module.exports = 1\n' } },
    ]);
  });
  afterAll(() => registry.close());

  it('serves packuments with matching tarball integrity, scoped names included', async () => {
    expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const doc = (await (await fetch(new URL('kiln-left-pad', registry.url))).json()) as {
      'dist-tags': { latest: string };
      versions: Record<string, { dist: { tarball: string; shasum: string; integrity: string } }>;
    };
    expect(doc['dist-tags'].latest).toBe('1.0.0');
    const dist = doc.versions['1.0.0']!.dist;
    expect(dist.tarball).toBe(`${registry.url}kiln-left-pad/-/kiln-left-pad-1.0.0.tgz`);
    const tgz = Buffer.from(await (await fetch(dist.tarball)).arrayBuffer());
    expect(createHash('sha1').update(tgz).digest('hex')).toBe(dist.shasum);
    expect(`sha512-${createHash('sha512').update(tgz).digest('base64')}`).toBe(dist.integrity);

    for (const path of ['@kiln%2fscoped', '@kiln/scoped']) {
      const scoped = (await (await fetch(new URL(path, registry.url))).json()) as typeof doc;
      expect(scoped.versions['2.0.0']!.dist.tarball).toBe(`${registry.url}@kiln/scoped/-/scoped-2.0.0.tgz`);
    }
    const missing = await fetch(new URL('no-such-package', registry.url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'Not found' });
  });

  it('installs with host npm and requires', { timeout: 2 * CHILD_TIMEOUT + 10_000 }, async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '0.0.0', private: true, dependencies: { 'kiln-left-pad': '^1.0.0' } }),
    );
    await run('npm', ['install', '--registry', registry.url, '--no-audit', '--no-fund', '--cache', join(dir, 'cache')], {
      cwd: dir,
      env: { ...cleanEnv, NPM_CONFIG_USERCONFIG: '/dev/null' },
      timeout: CHILD_TIMEOUT,
    });
    const { stdout } = await run('node', ['-e', "console.log(require('kiln-left-pad')('x', 3))"], {
      cwd: dir,
      env: cleanEnv,
      timeout: CHILD_TIMEOUT,
    });
    expect(stdout).toBe('  x\n');
    expect(registry.requests).toContain('GET /kiln-left-pad/-/kiln-left-pad-1.0.0.tgz');
  });
});
