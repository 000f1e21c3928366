// Tiny package indexes on loopback, standing in for the mirror an air-gapped user would point
// pip and npm at. Everything is built in memory (wheels as hand-written zips, npm tarballs via
// tar-stream) so tests need no network, no registry credentials and no extra dependencies.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { zip } from './zip.js';

export interface PyPackage {
  name: string;
  version: string;
  /** module files: path inside the wheel (e.g. 'kilnpkg/__init__.py') -> contents */
  files: Record<string, string>;
  /** Requires-Dist lines, optional */
  requires?: string[];
}

export interface NpmPackage {
  name: string;
  version: string;
  /** files under package/ besides package.json (e.g. 'index.js') */
  files: Record<string, string>;
  /** merged into the generated package.json (scripts, main, type, dependencies, ...) */
  packageJson?: Record<string, unknown>;
}

export interface PackageSource {
  url: string;
  /** requests received, as 'METHOD /path' strings, in order */
  requests: string[];
  close(): Promise<void>;
}

type Reply = { status: number; type: string; body: string | Buffer };
type Route = (path: string, base: string) => Reply | undefined | Promise<Reply | undefined>;

// Bound to 127.0.0.1 only: these are test fixtures and must never be reachable from elsewhere.
/** A certificate and key to serve HTTPS with (a source behind a private CA, or an intercepting proxy's). */
export interface ServeTls {
  certPem: string;
  keyPem: string;
}

async function serve(route: Route, suffix: string, notFound: Reply, tls?: ServeTls): Promise<PackageSource> {
  const requests: string[] = [];
  let base = '';
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let reply: Reply | undefined;
    try {
      // links name the host the client asked for (a name that resolves here, say), not only 127.0.0.1
      const asked = req.headers.host ? `${tls ? 'https' : 'http'}://${req.headers.host}/` : base;
      if (req.method === 'GET' || req.method === 'HEAD') reply = await route(path, asked);
    } catch {
      // a malformed %-escape in the path: treat it like any other unknown path
    }
    reply ??= notFound;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
    res.writeHead(reply.status, { 'content-type': reply.type, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = tls ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base + suffix,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // pip and npm keep sockets alive; without this close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- Python (PEP 503 simple index)

/** PEP 503 project-name normalization. */
export function normalizePyName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

/** A pure-Python py3-none-any wheel, with the METADATA, WHEEL and RECORD files pip checks. */
export function buildWheel(pkg: PyPackage): { filename: string; data: Buffer } {
  // Binary distribution format: the name part of filenames and the .dist-info dir use underscores.
  const dist = pkg.name.toLowerCase().replace(/[-_.]+/g, '_');
  const info = `${dist}-${pkg.version}.dist-info`;
  const metadata = [
    'Metadata-Version: 2.1',
    `Name: ${pkg.name}`,
    `Version: ${pkg.version}`,
    ...(pkg.requires ?? []).map((r) => `Requires-Dist: ${r}`),
  ].join('\n');
  const wheel = ['Wheel-Version: 1.0', 'Generator: kiln-test', 'Root-Is-Purelib: true', 'Tag: py3-none-any'].join('\n');
  const entries: Array<[string, Buffer]> = [
    ...Object.entries(pkg.files).map(([p, c]): [string, Buffer] => [p, Buffer.from(c)]),
    [`${info}/METADATA`, Buffer.from(`${metadata}\n`)],
    [`${info}/WHEEL`, Buffer.from(`${wheel}\n`)],
  ];
  const record = entries.map(([p, data]) => `${p},sha256=${sha256(data).toString('base64url')},${data.length}`);
  record.push(`${info}/RECORD,,`);
  entries.push([`${info}/RECORD`, Buffer.from(`${record.join('\n')}\n`)]);
  return { filename: `${dist}-${pkg.version}-py3-none-any.whl`, data: zip(entries) };
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `hold`: files (not pages) are served once it settles, so a test can watch a build that is waiting on one. */
export async function startPythonIndex(packages: PyPackage[], opts: { hold?: Promise<void> } = {}): Promise<PackageSource> {
  const files = new Map<string, Buffer>();
  const projects = new Map<string, string[]>(); // normalized name -> anchor lines
  for (const pkg of packages) {
    const { filename, data } = buildWheel(pkg);
    files.set(filename, data);
    const hash = sha256(data).toString('hex');
    const link = `<a href="../../files/${escapeHtml(filename)}#sha256=${hash}">${escapeHtml(filename)}</a><br/>`;
    const key = normalizePyName(pkg.name);
    projects.set(key, [...(projects.get(key) ?? []), link]);
  }
  const html = (title: string, lines: string[]) =>
    `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>${escapeHtml(title)}</title></head>\n` +
    `<body>\n${lines.join('\n')}\n</body></html>\n`;
  const page = (body: string): Reply => ({ status: 200, type: 'text/html; charset=utf-8', body });
  const route: Route = (path) => {
    if (path === '/simple/' || path === '/simple') {
      return page(
        html(
          'Simple index',
          [...projects.keys()].map((k) => `<a href="${k}/">${k}</a><br/>`),
        ),
      );
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path);
    if (project) {
      const key = normalizePyName(decodeURIComponent(project[1]!));
      const links = projects.get(key);
      return links ? page(html(`Links for ${key}`, links)) : undefined;
    }
    const file = /^\/files\/([^/]+)$/.exec(path);
    const data = file ? files.get(decodeURIComponent(file[1]!)) : undefined;
    if (!data) return undefined;
    const reply = { status: 200, type: 'application/octet-stream', body: data };
    return opts.hold ? opts.hold.then(() => reply) : reply;
  };
  return serve(route, 'simple/', { status: 404, type: 'text/plain', body: 'Not found\n' });
}

// ---------------------------------------------------------------- npm registry

/** gzipped tar with package.json first, then the files (and their directories) under package/. */
export async function buildNpmTarball(pkg: NpmPackage, manifest: Record<string, unknown>): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    tar.on('data', (c) => chunks.push(c as Buffer));
    tar.on('end', () => resolve());
    tar.on('error', reject);
  });
  const mtime = new Date(0); // fixed so tarballs (and their integrity) are reproducible
  tar.entry({ name: 'package/package.json', mode: 0o644, mtime }, `${JSON.stringify(manifest, null, 2)}\n`);
  const dirs = new Set<string>();
  for (const [path, contents] of Object.entries(pkg.files)) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        tar.entry({ name: `package/${dir}/`, type: 'directory', mode: 0o755, mtime });
      }
    }
    tar.entry({ name: `package/${path}`, mode: 0o644, mtime }, contents);
  }
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** Numeric x.y.z comparison; enough for the handful of versions a test publishes. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split(/[.+-]/).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export async function startNpmRegistry(packages: NpmPackage[], tls?: ServeTls): Promise<PackageSource> {
  // Tarballs don't depend on the port, so build them up front; packuments embed the URL.
  const built = await Promise.all(
    packages.map(async (pkg) => {
      const manifest = { ...pkg.packageJson, name: pkg.name, version: pkg.version };
      const data = await buildNpmTarball(pkg, manifest);
      const basename = pkg.name.split('/').pop()!;
      return { pkg, manifest, data, tarPath: `/${pkg.name}/-/${basename}-${pkg.version}.tgz` };
    }),
  );
  const tarballs = new Map(built.map((b) => [b.tarPath, b.data]));
  const json = (status: number, value: unknown): Reply => ({ status, type: 'application/json', body: JSON.stringify(value) });
  const packument = (name: string, base: string): Reply | undefined => {
    const entries = built.filter((b) => b.pkg.name === name);
    if (entries.length === 0) return undefined;
    const latest = entries
      .map((b) => b.pkg.version)
      .sort(compareVersions)
      .at(-1)!;
    const versions = Object.fromEntries(
      entries.map((b) => [
        b.pkg.version,
        {
          ...b.manifest,
          dist: {
            tarball: base + b.tarPath.slice(1),
            shasum: createHash('sha1').update(b.data).digest('hex'),
            integrity: `sha512-${createHash('sha512').update(b.data).digest('base64')}`,
          },
        },
      ]),
    );
    return json(200, { name, 'dist-tags': { latest }, versions });
  };
  // npm asks with Accept: application/vnd.npm.install-v1+json (the abbreviated "corgi" form) but
  // accepts the full packument, so one shape serves both.
  const route: Route = (path, base) => {
    const decoded = decodeURIComponent(path); // '/@scope%2fname' and '/@scope/name' are the same
    const tarball = tarballs.get(decoded);
    if (tarball) return { status: 200, type: 'application/octet-stream', body: tarball };
    return packument(decoded.slice(1), base);
  };
  return serve(route, '', json(404, { error: 'Not found' }), tls);
}
