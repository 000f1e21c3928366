/**
 * The console's sessions (./session-pages.tsx). Listing needs `read`; a session's files, like the
 * API's file routes, are what its code made, so they need `run` on a key not limited to tools —
 * and so does ending one. A paused session's files are not listed (listing would resume it: a look
 * should not cost a box); a file is sent as an attachment, never as a page of kiln's origin.
 */
import type { Context } from 'hono';
import { Readable } from 'node:stream';
import { allows, requireCode, requireScope } from '../../access/scopes.js';
import { AppError } from '../../errors.js';
import type { SessionFiles } from '../../sessions/session-files.js';
import type { Sessions } from '../../sessions/sessions.js';
import { SESSION_STATUSES, type SessionStatus } from '../../model/vocabulary.js';
import type { AppEnv, createRouter } from '../context.js';
import { type ConsoleKit, wantsFragment } from './console-kit.js';
import { SessionPage, SessionsPage, SessionsTable } from './session-pages.js';

const SESSION_ID = /^sess_[0-9a-f]{24}$/;
/** A file name as RFC 5987 carries it: percent-encoded UTF-8, the characters it reserves too. */
const rfc5987 = (name: string) => encodeURIComponent(name).replace(/['()*!]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);

export function sessionRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, deps: { sessions: Sessions; files: SessionFiles }) {
  const { sessions } = deps;
  const mayTouch = (c: Context<AppEnv>) => allows(c.get('principal'), 'run') && c.get('principal').tools === null;
  const statusOf = (c: Context<AppEnv>) => {
    const s = c.req.query('status') ?? '';
    if (s && !(SESSION_STATUSES as readonly string[]).includes(s))
      throw new AppError('BAD_REQUEST', `Status: one of ${SESSION_STATUSES.join(', ')}.`);
    return s as SessionStatus | '';
  };

  async function list(c: Context<AppEnv>, said?: { text: string; error: boolean }, code: 200 | 400 | 403 | 404 = 200) {
    const status = statusOf(c);
    const rows = await sessions.list(c.get('project'), { limit: 100, ...(status ? { status } : {}) });
    const now = new Date().toISOString();
    if (wantsFragment(c)) return c.html(String(SessionsTable({ csrf: kit.token(c), sessions: rows, status, now })));
    return kit.page(c, SessionsPage({ who: kit.who(c), csrf: kit.token(c), sessions: rows, status, now, ...(said ? { said } : {}) }), code);
  }

  app.get('/console/sessions', (c) => {
    requireScope(c.get('principal'), 'read');
    // back from ending one (post, then redirect: a reload does not post again); an id only, never text
    const ended = c.req.query('ended') ?? '';
    return list(c, SESSION_ID.test(ended) ? { text: `Session ${ended} ended.`, error: false } : undefined);
  });
  app.post('/console/sessions/:id/end', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (!kit.holds(c, form.get('csrf') ?? undefined))
      return list(c, { text: 'This form expired or came from another site; try again.', error: true }, 403);
    if (!mayTouch(c)) return list(c, { text: 'Ending a session needs the run scope, on a key not limited to tools.', error: true }, 403);
    const id = c.req.param('id');
    try {
      await sessions.remove(c.get('project'), id);
    } catch (err) {
      if (err instanceof AppError) return list(c, { text: err.message, error: true }, err.code === 'NOT_FOUND' ? 404 : 400);
      throw err;
    }
    const status = statusOf(c);
    return c.redirect(`/console/sessions?${new URLSearchParams({ ...(status ? { status } : {}), ended: id })}`, 303);
  });
  app.get('/console/sessions/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    const id = c.req.param('id');
    if (!SESSION_ID.test(id)) return kit.page(c, `No session ${id} in this project.`, 404);
    const session = await sessions.get(c.get('project'), id);
    const path = (c.req.query('path') ?? '').replace(/^\/+|\/+$/g, '');
    let files: Parameters<typeof SessionPage>[0]['files'];
    if (!mayTouch(c)) files = "A session's files are what its code made: seeing them needs the run scope, on a key not limited to tools.";
    else if (session.status === 'paused') files = 'The session is paused: its files are in its checkpoint, and show once it runs again.';
    else if (session.status === 'ended') files = 'The session has ended: its files went with its box.';
    else
      files = await deps.files.list(c.get('project'), id, path, 1).catch((err: unknown) => {
        if (err instanceof AppError) return err.message; // held by another replica, or a path not there
        throw err;
      });
    return kit.page(c, SessionPage({ who: kit.who(c), csrf: kit.token(c), session, path, files }));
  });
  app.get('/console/sessions/:id/file', async (c) => {
    requireCode(c.get('principal')); // run, on a key not limited to tools
    const path = c.req.query('path') ?? '';
    const { size, body } = await deps.files.get(c.get('project'), c.req.param('id'), path);
    const name = path.split('/').at(-1) || 'file';
    return new Response(Readable.toWeb(body) as ReadableStream, {
      status: 200,
      headers: {
        // bytes to save, never a page of kiln's origin (a program may have written HTML)
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"; filename*=UTF-8''${rfc5987(name)}`,
        ...(size === null ? {} : { 'content-length': String(size) }),
      },
    });
  });
}
