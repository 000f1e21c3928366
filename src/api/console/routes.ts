/**
 * The console (issue 28): kiln's own pages at /console, served by this process, server-rendered with
 * Hono's JSX, readable with JavaScript off. A person signs in with a kiln key (./console-auth.ts)
 * and sees what that key's project holds. Every page is sent with a CSP that loads nothing but its
 * own style and script (by hash), may not be framed, and is never cached; every form that changes
 * something carries a signed double-submit token (../csrf.ts). Each group of pages has its routes'
 * file; this one signs people in and out, and answers every error as a page.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { rateLimiter } from 'hono-rate-limiter';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Logger } from 'pino';
import type { Keys } from '../../access/keys.js';
import type { AuthorizationServer } from '../../access/oauth/authorization-server.js';
import { CONSOLE_CLIENT_ID } from '../../access/oauth/clients.js';
import type { Config } from '../../config.js';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { MetricsHistory } from '../../metrics-history.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { SessionFiles } from '../../sessions/session-files.js';
import type { Sessions } from '../../sessions/sessions.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { Secrets } from '../../secrets/secrets.js';
import type { Tools } from '../../tools/tools.js';
import { limitBody } from '../body-limit.js';
import { type AppEnv, createRouter } from '../context.js';
import { createCsrf } from '../csrf.js';
import { describeError } from '../error-response.js';
import { setPageHeaders } from '../page-headers.js';
import { publicBase } from '../oauth/resource.js';
import { consoleAuth } from './console-auth.js';
import { consoleOAuthRoutes } from './console-oauth.js';
import { type ConsoleKit, type PageStatus, wantsFragment } from './console-kit.js';
import { executionRoutes } from './execution-routes.js';
import { healthRoutes } from './health-routes.js';
import { invocationRoutes } from './invocation-routes.js';
import { CONSOLE_STYLE_HASH, Layout, Said } from './layout.js';
import { CONSOLE_SCRIPT_HASH } from './live-script.js';
import { runtimeRoutes } from './runtime-routes.js';
import { secretRoutes } from './secret-routes.js';
import { sessionRoutes } from './session-routes.js';
import { SignInPage } from './sign-in-page.js';
import { toolRoutes } from './tool-routes.js';

/** The headers of every console response. */
const secureHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  setPageHeaders(c, { style: CONSOLE_STYLE_HASH, script: CONSOLE_SCRIPT_HASH });
};

/** Where to go after signing in: a console page only (never another site). */
const safeNext = (next: string | undefined) =>
  next && /^\/console\/[A-Za-z0-9_/?&=%.:+-]*$/.test(next) && !next.startsWith('//') ? next : '/console/executions';

/** The pages a visitor who is not signed in may open. */
const OPEN = new Set(['/console/sign-in', '/console/sign-out', '/console/oauth/start', '/console/oauth/callback']);

export function consoleRoutes(deps: {
  keys: Keys;
  /** kiln's own authorization server, when it is one: a person may sign in through its consent page. */
  authorizationServer: AuthorizationServer | null;
  secretBox: SecretBox;
  statuses: ExecutionStatuses;
  tools: Tools;
  execute: Execute;
  secrets: Secrets;
  runtimes: CustomRuntimes;
  sessions: Sessions;
  sessionFiles: SessionFiles;
  invocations: Invocations;
  health: MetricsHistory;
  log: Logger;
  settings: Pick<Config, 'KILN_PUBLIC_URL' | 'KILN_OAUTH_RATE_PER_MINUTE' | 'KILN_OPERATOR_PROJECTS'>;
}) {
  const app = createRouter();
  const base = (c: Context<AppEnv>) => publicBase(c, deps.settings);
  const server = deps.authorizationServer;
  const tokens = server && {
    refresh: (refreshToken: string) => server.grants.refresh({ refreshToken, clientId: CONSOLE_CLIENT_ID }),
    revoke: (token: string) => server.grants.revoke(token, CONSOLE_CLIENT_ID),
  };
  const auth = consoleAuth({ keys: deps.keys, secretBox: deps.secretBox, base, ...(tokens ? { tokens } : {}) });
  const signInPage = (c: Context<AppEnv>, next: string, error?: string) =>
    SignInPage({ csrf: csrf.token(c), next, oauth: !!server, ...(error ? { error } : {}) });
  const csrf = createCsrf({ secretBox: deps.secretBox, purpose: 'console', base, name: 'kiln-console-csrf', path: '/console' });
  const html = (c: Context<AppEnv>, body: unknown, status: PageStatus = 200) => c.html(`<!doctype html>${String(body)}`, status);
  const signedIn = (c: Context<AppEnv>) => c.get('principal') as AppEnv['Variables']['principal'] | undefined;
  const kit: ConsoleKit = {
    who: (c) => ({ project: c.get('principal').project, keyName: c.get('principal').keyName }),
    token: csrf.token,
    holds: csrf.holds,
    // a page, or a line said on a page of its own (a tool not found, a form that expired)
    page: (c, body, status = 200) => {
      if (typeof body !== 'string') return html(c, body, status);
      if (wantsFragment(c)) return c.text(body, status);
      const who = signedIn(c) ? kit.who(c) : undefined;
      const said = Said({ text: body, error: status >= 400 });
      return html(c, Layout({ title: 'kiln', ...(who ? { who, csrf: csrf.token(c) } : {}), children: said }), status);
    },
  };
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

  // any error of a console page (a scope the key lacks, an object not found) is a page, not JSON
  app.onError((err, c) => {
    const { error, status, headers } = describeError(err, c, deps.log);
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    // (its security headers are set around it, by secureHeaders, as on every console page)
    return kit.page(
      c,
      error.code === 'INTERNAL' ? 'kiln failed to answer this page; its log says why.' : error.message,
      status as PageStatus,
    );
  });
  app.use('/console', secureHeaders);
  app.use('/console/*', secureHeaders, limitBody(16 * 1024));
  app.use('/console/*', (c, next) => (OPEN.has(c.req.path) ? next() : auth.required(c, next)));
  app.get('/console', (c) => c.redirect('/console/executions', 303));
  app.get('/console/sign-in', (c) => html(c, signInPage(c, safeNext(c.req.query('next')))));
  app.post('/console/sign-in', signInLimit, async (c) => {
    const form = new URLSearchParams(await c.req.text());
    const next = safeNext(form.get('next') ?? undefined);
    if (!csrf.holds(c, form.get('csrf') ?? undefined))
      return html(c, signInPage(c, next, 'This form expired or came from another site; try again.'), 403);
    if (!(await auth.signIn(c, form.get('key') ?? '')))
      return html(c, signInPage(c, next, 'That is not a kiln key that may read this project.'), 401);
    return c.redirect(next, 303);
  });
  app.post('/console/sign-out', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (!csrf.holds(c, form.get('csrf') ?? undefined)) return c.text('This form expired or came from another site.', 403);
    await auth.signOut(c);
    return c.redirect('/console/sign-in', 303);
  });

  if (server) consoleOAuthRoutes(app, kit, { server, auth, secretBox: deps.secretBox, base, safeNext });
  executionRoutes(app, kit, deps.statuses);
  toolRoutes(app, kit, { tools: deps.tools, execute: deps.execute });
  secretRoutes(app, kit, { secrets: deps.secrets });
  runtimeRoutes(app, kit, deps.runtimes);
  sessionRoutes(app, kit, { sessions: deps.sessions, files: deps.sessionFiles });
  invocationRoutes(app, kit, deps.invocations);
  healthRoutes(app, kit, { history: deps.health, operators: deps.settings.KILN_OPERATOR_PROJECTS });
  return app;
}
