/**
 * envd's Filesystem service (Connect-RPC, JSON) and its file routes (GET/POST /files) over a
 * session's workspace (src/sessions/session-files.ts: each operation run in the box as the sandbox
 * user, no path through a symlink). E2B's home, /home/user, is the workspace (/mnt/req; the images
 * link one to the other), and relative paths are relative to it; kiln keeps a sandbox's files
 * there only (what it checkpoints), so a path elsewhere is refused, saying so. Entries are envd's
 * EntryInfo: enum names, sizes as strings, RFC 3339 times, Go's mode bits.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Context } from 'hono';
import { AppError, fieldError } from '../../errors.js';
import type { FileDetail, SessionFiles } from '../../sessions/session-files.js';
import type { AppEnv } from '../context.js';
import { ConnectError, stringField, unaryError, unaryRoute } from './connect-rpc.js';

const HOME = '/home/user';
/** Go's os.ModeDir and os.ModeSymlink, which envd's modes carry. */
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
/** The sandbox user's uid (kiln's boxes run as 10001), by the name E2B gives its user. */
const SANDBOX_UID = 10001;

/** An E2B path as a path in the workspace; `field` names it in the error that refuses one elsewhere. */
export function workspaceOf(path: string, field: string): string {
  const abs = path.startsWith('/') ? path : `${HOME}/${path}`;
  for (const root of [HOME, '/mnt/req']) if (abs === root || abs.startsWith(`${root}/`)) return abs.slice(root.length + 1);
  throw fieldError(field, 'outside_workspace', `${path} is outside the sandbox's workspace: kiln keeps its files under ${HOME} (/mnt/req)`);
}

const e2bPath = (relative: string) => (relative ? `${HOME}/${relative}` : HOME);

function permissions(mode: number, type: FileDetail['type']): string {
  const bits = 'rwxrwxrwx'.replace(/./g, (ch, i) => (mode & (1 << (8 - i)) ? ch : '-'));
  return (type === 'directory' ? 'd' : type === 'symlink' ? 'L' : '-') + bits;
}

/** A workspace entry as envd's EntryInfo. */
export function entryInfo(d: FileDetail) {
  const owner = (id: number) => (id === SANDBOX_UID ? 'user' : String(id));
  return {
    name: d.name || 'user',
    type: d.type === 'directory' ? 'FILE_TYPE_DIRECTORY' : d.type === 'symlink' ? 'FILE_TYPE_SYMLINK' : 'FILE_TYPE_FILE',
    path: e2bPath(d.path),
    size: String(d.size),
    mode: d.mode + (d.type === 'directory' ? MODE_DIR : d.type === 'symlink' ? MODE_SYMLINK : 0),
    permissions: permissions(d.mode, d.type),
    owner: owner(d.uid),
    group: owner(d.gid),
    modifiedTime: new Date(Math.floor(d.modified_ns / 1e6)).toISOString(),
    ...(d.target !== undefined ? { symlinkTarget: d.target } : {}),
  };
}

type Post = { post(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown };
type Get = { get(path: string, h: (c: Context<AppEnv>) => Promise<Response>): unknown };

/** A gzipped body, unpacked: at most `max` bytes of it (a 413 past them). */
async function gunzipped(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const gunzip = createGunzip();
  const done = new Promise<void>((resolve, reject) => pipeline(body, gunzip, (err) => (err ? reject(err) : resolve())));
  done.catch(() => {}); // (the loop below meets the same error first; it is said once, there)
  for await (const chunk of gunzip) {
    size += (chunk as Buffer).length;
    if (size > max) {
      gunzip.destroy();
      throw new AppError('PAYLOAD_TOO_LARGE', `the file is larger than ${max} bytes`, [{ field: '(body)', reason: 'too_large' }]);
    }
    chunks.push(chunk as Buffer);
  }
  await done;
  return Buffer.concat(chunks);
}

export function filesystemRoutes(app: Post & Get, files: SessionFiles, maxFileBytes: number) {
  const base = '/e2b/sandbox/filesystem.Filesystem';
  const sandbox = (c: Context<AppEnv>) => [c.get('project'), c.req.header('e2b-sandbox-id')!] as const;
  const unary = unaryRoute;
  const path = (m: Record<string, unknown>, field = 'path') => workspaceOf(stringField(m, field), field);

  app.post(
    `${base}/Stat`,
    unary(async (c, m) => ({ entry: entryInfo(await files.stat(...sandbox(c), path(m))) })),
  );
  app.post(
    `${base}/ListDir`,
    unary(async (c, m) => {
      const depth = m.depth === undefined ? 1 : Number(m.depth);
      if (!Number.isInteger(depth) || depth < 1 || depth > 32)
        throw new ConnectError('invalid_argument', 'depth: a whole number from 1 to 32');
      const at = path(m);
      const stat = await files.stat(...sandbox(c), at);
      if (stat.type !== 'directory') throw new ConnectError('invalid_argument', `path: ${stringField(m, 'path')} is not a directory`);
      return { entries: (await files.list(...sandbox(c), at, depth)).map(entryInfo) };
    }),
  );
  app.post(
    `${base}/MakeDir`,
    unary(async (c, m) => ({ entry: entryInfo(await files.makeDir(...sandbox(c), path(m))) })),
  );
  app.post(
    `${base}/Move`,
    unary(async (c, m) => ({ entry: entryInfo(await files.move(...sandbox(c), path(m, 'source'), path(m, 'destination'))) })),
  );
  app.post(
    `${base}/Remove`,
    unary(async (c, m) => {
      await files.remove(...sandbox(c), path(m));
    }),
  );
  for (const method of ['WatchDir', 'CreateWatcher', 'GetWatcherEvents', 'RemoveWatcher'])
    app.post(`${base}/${method}`, async (c) =>
      unaryError(
        c,
        new ConnectError(
          'unimplemented',
          `${method}: kiln does not watch a sandbox's files (it would poll the box); list them again instead`,
        ),
      ),
    );

  // the file routes: a file's bytes as they are, streamed both ways
  app.get('/e2b/sandbox/files', async (c) => {
    const at = workspaceOf(c.req.query('path') ?? '', 'path');
    const file = await files.get(...sandbox(c), at);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (file.size !== null) headers['content-length'] = String(file.size);
    return new Response(Readable.toWeb(file.body) as ReadableStream, { status: 200, headers });
  });
  app.post('/e2b/sandbox/files', async (c) => {
    const query = c.req.query('path');
    const type = c.req.header('content-type') ?? '';
    const written: { name: string; type: 'file'; path: string }[] = [];
    const put = async (target: string, body: () => Readable) => {
      const at = workspaceOf(target, 'path');
      await files.put(...sandbox(c), at, body);
      written.push({ name: at.split('/').at(-1)!, type: 'file', path: e2bPath(at) });
    };
    if (/^multipart\/form-data/i.test(type)) {
      const form = await c.req.formData();
      const parts = form.getAll('file').filter((p): p is File => typeof p !== 'string');
      if (!parts.length) throw fieldError('file', 'missing', 'send each file as a part named "file"');
      const targets = parts.map((p) => query || p.name);
      if (new Set(targets).size !== targets.length) throw fieldError('file', 'duplicate', 'two parts name the same path');
      for (const [i, part] of parts.entries()) await put(targets[i]!, () => Readable.fromWeb(part.stream() as never));
    } else {
      if (!query) throw fieldError('path', 'missing', 'the path query names the file a raw body is written to');
      const raw = () => (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : Readable.from([]));
      if (/gzip/i.test(c.req.header('content-encoding') ?? '')) {
        // unpacked whole first (within the workspace's size): a corrupt body is a 400 before the box sees any of it
        const data = await gunzipped(raw(), maxFileBytes).catch((error: unknown) => {
          throw error instanceof AppError ? error : fieldError('(body)', 'invalid_gzip', 'is not valid gzip');
        });
        await put(query, () => Readable.from([data]));
      } else await put(query, raw);
    }
    return c.json(written, 200);
  });
}

/** The envd HTTP routes' error body: `{code, message}` with the status as its code (what the SDKs read). */
export function envdErrorBody(error: AppError, status: number) {
  return { code: status, message: error.message };
}
