/**
 * The console (issue 28): kiln's own pages at /console, served by this process, server-rendered with
 * Hono's JSX, readable with JavaScript off. A person signs in with a kiln key (./console-auth.ts)
 * and sees what that key's project holds. Every page is sent with a CSP that runs no script and
 * loads nothing but its own style, may not be framed, and is never cached; every form that changes
 * something carries a signed double-submit token (../csrf.ts).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { rateLimiter } from 'hono-rate-limiter';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Keys } from '../../access/keys.js';
import { requireScope } from '../../access/scopes.js';
import type { Config } from '../../config.js';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { Secrets } from '../../secrets/secrets.js';
import type { Tools } from '../../tools/tools.js';
import { EXECUTION_VIAS, type ExecutionVia } from '../../model/vocabulary.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { ExecutionFilter } from '../../store/store.js';
import { limitBody } from '../body-limit.js';
import { type AppEnv, createRouter } from '../context.js';
import { createCsrf } from '../csrf.js';
import { setPageHeaders } from '../page-headers.js';
import { publicBase } from '../oauth/resource.js';
import { consoleAuth } from './console-auth.js';
import { ExecutionPage } from './execution-page.js';
import { ExecutionsPage, type LogFilters } from './executions-page.js';
import { CONSOLE_STYLE_HASH, Layout } from './layout.js';
import { secretRoutes } from './secret-routes.js';
import { toolRoutes } from './tool-routes.js';
import { SignInPage } from './sign-in-page.js';

const PAGE_ROWS = 50;

/** The headers of every console response. */
const secureHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  setPageHeaders(c, CONSOLE_STYLE_HASH);
};

/** Where to go after signing in: a console page only (never another site). */
const safeNext = (next: string | undefined) =>
  next && /^\/console\/[A-Za-z0-9_/?&=%.:+-]*$/.test(next) && !next.startsWith('//') ? next : '/console/executions';

/** The log's filters from the query; a 400 page names the one that is wrong. */
function filtersOf(c: Context<AppEnv>): { f: LogFilters; filter: ExecutionFilter & { startingAfter?: string }; error?: string } {
  const q = (name: string) => (c.req.query(name) ?? '').trim();
  const f: LogFilters = { via: q('via'), tool: q('tool'), outcome: q('outcome'), from: q('from'), to: q('to') };
  const filter: ExecutionFilter & { startingAfter?: string } = {};
  const utc = (v: string) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) && Date.parse(`${v}Z`) ? new Date(`${v}Z`).toISOString() : null;
  if (f.via && !(EXECUTION_VIAS as readonly string[]).includes(f.via))
    return { f, filter, error: `Surface: ${f.via} is not one of ${EXECUTION_VIAS.join(', ')}.` };
  if (f.via) filter.via = f.via as ExecutionVia;
  if (f.tool && !/^tool_[0-9a-f]{24}$/.test(f.tool)) return { f, filter, error: 'Tool id: tool_ and 24 hex digits.' };
  if (f.tool) filter.toolId = f.tool;
  if (f.outcome && f.outcome !== 'failed' && f.outcome !== 'ok') return { f, filter, error: 'Outcome: failed or ok.' };
  if (f.outcome) filter.outcome = f.outcome as 'failed' | 'ok';
  for (const [field, label, key] of [
    ['from', 'From', 'startedAfter'],
    ['to', 'To', 'startedBefore'],
  ] as const) {
    const v = f[field];
    if (!v) continue;
    const at = utc(v);
    if (!at) return { f, filter, error: `${label}: a date and time (YYYY-MM-DDTHH:MM).` };
    filter[key] = at;
  }
  const after = q('after');
  if (after && !/^exec_[0-9a-f]{24}$/.test(after)) return { f, filter, error: 'The page cursor is not an execution id.' };
  if (after) filter.startingAfter = after;
  return { f, filter };
}

export function consoleRoutes(deps: {
  keys: Keys;
  secretBox: SecretBox;
  statuses: ExecutionStatuses;
  tools: Tools;
  execute: Execute;
  secrets: Secrets;
  settings: Pick<Config, 'KILN_PUBLIC_URL' | 'KILN_OAUTH_RATE_PER_MINUTE'>;
}) {
  const app = createRouter();
  const base = (c: Context<AppEnv>) => publicBase(c, deps.settings);
  const auth = consoleAuth({ keys: deps.keys, secretBox: deps.secretBox, base });
  const csrf = createCsrf({ secretBox: deps.secretBox, purpose: 'console', base, name: 'kiln-console-csrf', path: '/console' });
  const html = (c: Context<AppEnv>, body: unknown, status: 200 | 400 | 401 | 403 | 404 = 200) =>
    c.html(`<!doctype html>${String(body)}`, status);
  const who = (c: Context<AppEnv>) => ({ project: c.get('principal').project, keyName: c.get('principal').keyName });
  // a person typing keys: a few tries a minute from one address
  const signInLimit = rateLimiter<AppEnv>({
    windowMs: 60_000,
    limit: deps.settings.KILN_OAUTH_RATE_PER_MINUTE,
    keyGenerator: (c) => {
      try {
        return getConnInfo(c).remote.address ?? 'unknown';
      } catch {
        return 'unknown';
      }
    },
    handler: (c) => c.text('Too many sign-in attempts; wait a minute.', 429, { 'retry-after': '60' }),
  });

  app.use('/console', secureHeaders);
  app.use('/console/*', secureHeaders, limitBody(16 * 1024));
  app.get('/console', (c) => c.redirect('/console/executions', 303));
  app.get('/console/sign-in', (c) => html(c, SignInPage({ csrf: csrf.token(c), next: safeNext(c.req.query('next')) })));
  app.post('/console/sign-in', signInLimit, async (c) => {
    const form = new URLSearchParams(await c.req.text());
    const next = safeNext(form.get('next') ?? undefined);
    if (!csrf.holds(c, form.get('csrf') ?? undefined))
      return html(c, SignInPage({ csrf: csrf.token(c), next, error: 'This form expired or came from another site; try again.' }), 403);
    if (!(await auth.signIn(c, form.get('key') ?? '')))
      return html(c, SignInPage({ csrf: csrf.token(c), next, error: 'That is not a kiln key that may read this project.' }), 401);
    return c.redirect(next, 303);
  });
  app.post('/console/sign-out', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (!csrf.holds(c, form.get('csrf') ?? undefined)) return c.text('This form expired or came from another site.', 403);
    auth.signOut(c);
    return c.redirect('/console/sign-in', 303);
  });

  app.use('/console/executions', auth.required);
  app.use('/console/executions/*', auth.required);
  app.get('/console/executions', async (c) => {
    requireScope(c.get('principal'), 'read');
    const { f, filter, error } = filtersOf(c);
    if (error) return html(c, ExecutionsPage({ who: who(c), csrf: csrf.token(c), f, rows: [], more: false, error }), 400);
    // one more than a page: whether there is an older page, without counting the log
    const rows = await deps.statuses.summaries(c.get('project'), { ...filter, limit: PAGE_ROWS + 1 });
    return html(c, ExecutionsPage({ who: who(c), csrf: csrf.token(c), f, rows: rows.slice(0, PAGE_ROWS), more: rows.length > PAGE_ROWS }));
  });
  app.get('/console/executions/:id', async (c) => {
    requireScope(c.get('principal'), 'read');
    const id = c.req.param('id');
    const status = /^exec_[0-9a-f]{24}$/.test(id) ? await deps.statuses.get(c.get('project'), id) : null;
    if (!status)
      return html(
        c,
        ExecutionsPage({
          who: who(c),
          csrf: csrf.token(c),
          f: { via: '', tool: '', outcome: '', from: '', to: '' },
          rows: [],
          more: false,
          error: `No execution ${id} in this project.`,
        }),
        404,
      );
    return html(c, ExecutionPage({ who: who(c), csrf: csrf.token(c), status }));
  });
  app.use('/console/secrets', auth.required);
  app.use('/console/secrets/*', auth.required);
  // a page, or a line said on a page of its own (a tool not found, a form that expired)
  const page = (c: Context<AppEnv>, body: unknown, status: 200 | 400 | 401 | 403 | 404 = 200) =>
    html(c, typeof body === 'string' ? Layout({ title: 'kiln', who: who(c), csrf: csrf.token(c), children: body }) : body, status);
  secretRoutes(app, { secrets: deps.secrets, page, token: csrf.token, holds: csrf.holds });
  app.use('/console/tools', auth.required);
  app.use('/console/tools/*', auth.required);
  toolRoutes(app, {
    tools: deps.tools,
    execute: deps.execute,
    token: csrf.token,
    holds: csrf.holds,
    page,
  });
  return app;
}
