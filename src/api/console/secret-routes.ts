/**
 * The console's secrets (./secret-pages.tsx): listed for a key that may read the project; rotated
 * and deleted by one that may manage it, through signed forms. A value goes from the form into the
 * secrets service (sealed there) and is never shown or logged.
 */
import type { Context } from 'hono';
import { allows } from '../../access/scopes.js';
import { AppError } from '../../errors.js';
import type { Secrets } from '../../secrets/secrets.js';
import type { ConsoleKit } from './console-kit.js';
import type { AppEnv, createRouter } from '../context.js';
import { SecretsPage } from './secret-pages.js';

const MAX_VALUE_BYTES = 64 * 1024;

export function secretRoutes(
  app: ReturnType<typeof createRouter>,
  kit: ConsoleKit,
  deps: {
    secrets: Secrets;
  },
) {
  const { who } = kit;
  async function show(c: Context<AppEnv>, said?: { text: string; error: boolean }, status: 200 | 400 | 403 | 404 = 200) {
    // every secret of the project, a page at a time (a project holds tens, not thousands)
    const secrets: Awaited<ReturnType<Secrets['list']>> = [];
    for (let page = await deps.secrets.list(c.get('project'), { limit: 100 }); ; ) {
      secrets.push(...page);
      if (page.length < 100 || secrets.length >= 1000) break;
      page = await deps.secrets.list(c.get('project'), { limit: 100, startingAfter: page.at(-1)!.id });
    }
    return kit.page(c, SecretsPage({ who: who(c), csrf: kit.token(c), secrets, ...(said ? { said } : {}) }), status);
  }
  /** A signed form of a key that may manage the project; otherwise the page says why. */
  async function change(c: Context<AppEnv>, act: (form: URLSearchParams) => Promise<string>) {
    const form = new URLSearchParams(await c.req.text());
    if (!kit.holds(c, form.get('csrf') ?? undefined))
      return show(c, { text: 'This form expired or came from another site; try again.', error: true }, 403);
    if (!allows(c.get('principal'), 'manage')) return show(c, { text: 'This key lacks the manage scope.', error: true }, 403);
    try {
      return show(c, { text: await act(form), error: false });
    } catch (err) {
      if (err instanceof AppError) return show(c, { text: err.message, error: true }, err.code === 'NOT_FOUND' ? 404 : 400);
      throw err;
    }
  }

  app.get('/console/secrets', (c) => show(c));
  app.post('/console/secrets/:id/rotate', (c) =>
    change(c, async (form) => {
      const value = form.get('value') ?? '';
      if (!value || Buffer.byteLength(value) > MAX_VALUE_BYTES)
        throw new AppError('BAD_REQUEST', `The value must be 1 to ${MAX_VALUE_BYTES} bytes.`, [{ field: 'value', reason: 'invalid' }]);
      const s = await deps.secrets.rotate(c.get('project'), c.req.param('id'), value);
      return `${s.name} has a new value; tools use it from their next run.`;
    }),
  );
  app.post('/console/secrets/:id/delete', (c) =>
    change(c, async () => {
      await deps.secrets.remove(c.get('project'), c.req.param('id'));
      return `Secret ${c.req.param('id')} deleted.`;
    }),
  );
}
