import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { fieldError } from '../../errors.js';
import { asEntry, type SessionFiles } from '../../sessions/session-files.js';
import { type AppEnv, createRouter } from '../context.js';

// A session's files as raw bytes (no base64, no JSON around them), streamed both ways:
//   PUT    /v1/sessions/{id}/files/{path}   the body becomes the file (its directories made)
//   GET    /v1/sessions/{id}/files/{path}   the file's bytes
//   GET    /v1/sessions/{id}/files?path=dir the directory's entries
//   DELETE /v1/sessions/{id}/files/{path}   the file, or a directory with what it holds

/** The file's path: what follows /files/ in the URL, percent-decoded. */
function filePath(c: Context<AppEnv>): string {
  const { pathname } = new URL(c.req.url);
  const at = pathname.indexOf('/files/');
  try {
    return decodeURIComponent(pathname.slice(at + '/files/'.length));
  } catch {
    throw fieldError('path', 'invalid', 'is not a valid percent-encoded path');
  }
}

export function sessionFileRoutes(deps: { files: SessionFiles }) {
  const { files } = deps;
  const app = createRouter();
  // before the file routes: their `files/*` matches `files` too
  app.get('/v1/sessions/:id/files', async (c) => {
    const data = (await files.list(c.get('project'), c.req.param('id'), c.req.query('path') ?? '')).map(asEntry);
    return c.json({ data }, 200);
  });
  app.put('/v1/sessions/:id/files/*', async (c) => {
    // taken only once the session is known to be here: one held elsewhere is forwarded, body and all
    const body = () => (c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : Readable.from([]));
    return c.json(await files.put(c.get('project'), c.req.param('id'), filePath(c), body), 200);
  });
  app.get('/v1/sessions/:id/files/*', async (c) => {
    const file = await files.get(c.get('project'), c.req.param('id'), filePath(c));
    return new Response(Readable.toWeb(file.body) as ReadableStream, {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', ...(file.size === null ? {} : { 'content-length': String(file.size) }) },
    });
  });
  app.delete('/v1/sessions/:id/files/*', async (c) => {
    const path = filePath(c);
    await files.remove(c.get('project'), c.req.param('id'), path);
    return c.json({ path, deleted: true }, 200);
  });
  return app;
}
