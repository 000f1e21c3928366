/**
 * The console's async invocations (./invocation-pages.tsx): listed for a key that may read the
 * project, cancelled by one that may run (as /v1/executions/{id}/cancel), through a signed form.
 */
import type { Context } from 'hono';
import { allows, requireScope } from '../../access/scopes.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { AppEnv, createRouter } from '../context.js';
import { type ConsoleKit, wantsFragment } from './console-kit.js';
import { InvocationsPage, InvocationsTable } from './invocation-pages.js';

const EXEC_ID = /^exec_[0-9a-f]{24}$/;

export function invocationRoutes(app: ReturnType<typeof createRouter>, kit: ConsoleKit, invocations: Invocations) {
  async function list(c: Context<AppEnv>, said?: { text: string; error: boolean }, code: 200 | 403 | 404 = 200) {
    const rows = await invocations.list(c.get('project'), null, { limit: 100 });
    const now = new Date().toISOString();
    if (wantsFragment(c)) return c.html(String(InvocationsTable({ csrf: kit.token(c), invocations: rows, now })));
    return kit.page(c, InvocationsPage({ who: kit.who(c), csrf: kit.token(c), invocations: rows, now, ...(said ? { said } : {}) }), code);
  }

  app.get('/console/invocations', async (c) => {
    requireScope(c.get('principal'), 'read');
    // back from cancelling one (post, then redirect): what it is now, read again; an id only, never text
    const id = c.req.query('cancelled') ?? '';
    const cancelled = EXEC_ID.test(id) ? await invocations.get(c.get('project'), id) : null;
    return list(c, cancelled ? { text: `Invocation ${id} is ${cancelled.status}.`, error: false } : undefined);
  });
  app.post('/console/invocations/:id/cancel', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (!kit.holds(c, form.get('csrf') ?? undefined))
      return list(c, { text: 'This form expired or came from another site; try again.', error: true }, 403);
    if (!allows(c.get('principal'), 'run')) return list(c, { text: 'Cancelling needs the run scope.', error: true }, 403);
    const id = c.req.param('id');
    const done = EXEC_ID.test(id) ? await invocations.cancel(c.get('project'), id) : null;
    if (!done) return list(c, { text: `No invocation ${id} in this project.`, error: true }, 404);
    return c.redirect(`/console/invocations?cancelled=${id}`, 303);
  });
}
