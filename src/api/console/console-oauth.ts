/**
 * Signing in to the console through kiln's own authorization server (KILN_OAUTH_SERVER), as any
 * OAuth client would: the console is a public client every kiln knows (`kiln-console`, its one
 * redirect URI the console's callback on kiln's origin), and goes through the consent page with
 * PKCE. There the person proves they may grant — an admin key, or a one-time code from
 * `npm run kiln -- oauth code --project P`, so no key need ever be pasted into a browser — and
 * chooses what this browser may do. The tokens are held as a key is (./console-auth.ts); the
 * access token is refreshed as it runs out, and signing out revokes the grant.
 *
 * The state and the PKCE verifier ride in a sealed cookie of their own, so a callback this browser
 * did not start (a login CSRF) finds none, and is refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AuthorizationServer } from '../../access/oauth/authorization-server.js';
import { CONSOLE_CLIENT_ID, consoleCallback } from '../../access/oauth/clients.js';
import { OAuthError } from '../../access/oauth/oauth-error.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { AppEnv, createRouter } from '../context.js';
import type { consoleAuth } from './console-auth.js';
import type { ConsoleKit } from './console-kit.js';

/** Over https a __Host- cookie (no sibling subdomain can set one: no tossing a flow of the attacker's in). */
const cookieOf = (secure: boolean) =>
  secure ? { name: '__Host-kiln-console-oauth', path: '/' } : { name: 'kiln-console-oauth', path: '/console/oauth' };
const AAD = 'kiln console oauth';
const FLOW_MS = 10 * 60_000;
const b64url = (b: Buffer) => b.toString('base64url');
const digest = (s: string) => createHash('sha256').update(s).digest();

export function consoleOAuthRoutes(
  app: ReturnType<typeof createRouter>,
  kit: ConsoleKit,
  deps: {
    server: AuthorizationServer;
    auth: ReturnType<typeof consoleAuth>;
    secretBox: SecretBox;
    base: (c: Context<AppEnv>) => string;
    safeNext: (next: string | undefined) => string;
  },
) {
  const secure = (c: Context<AppEnv>) => deps.base(c).startsWith('https:');

  app.get('/console/oauth/start', (c) => {
    const verifier = b64url(randomBytes(32));
    const state = b64url(randomBytes(16));
    const flow = { verifier, state, next: deps.safeNext(c.req.query('next')), until: Date.now() + FLOW_MS };
    const cookie = cookieOf(secure(c));
    setCookie(c, cookie.name, deps.secretBox.seal(JSON.stringify(flow), AAD), {
      httpOnly: true,
      sameSite: 'Lax', // the consent page sends the browser back here by a redirect
      secure: secure(c),
      path: cookie.path,
      maxAge: FLOW_MS / 1000,
    });
    const base = deps.base(c);
    const authorize = new URLSearchParams({
      response_type: 'code',
      client_id: CONSOLE_CLIENT_ID,
      redirect_uri: consoleCallback(base),
      state,
      scope: 'read run manage admin',
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      resource: `${base}/console`,
    });
    return c.redirect(`/oauth/authorize?${authorize}`, 303);
  });

  app.get('/console/oauth/callback', async (c) => {
    const cookie = cookieOf(secure(c));
    const sealed = getCookie(c, cookie.name);
    deleteCookie(c, cookie.name, { path: cookie.path, secure: secure(c) });
    let flow: { verifier: string; state: string; next: string; until: number } | null = null;
    try {
      flow = sealed ? JSON.parse(deps.secretBox.open(sealed, AAD)) : null;
    } catch {
      flow = null;
    }
    const state = c.req.query('state') ?? '';
    const same = flow && timingSafeEqual(digest(state), digest(flow.state));
    if (!flow || flow.until < Date.now() || !same)
      return kit.page(c, 'This sign-in was not started here, or took too long; sign in again.', 400);
    // RFC 9207: kiln's server names itself on every answer; one that does not, or names another, is not its
    if (c.req.query('iss') !== deps.base(c)) return kit.page(c, 'The answer came from another authorization server.', 400);
    if (c.req.query('error'))
      return kit.page(c, c.req.query('error') === 'access_denied' ? 'Consent was declined: nothing was granted.' : 'Consent failed.', 400);
    let tokens: Awaited<ReturnType<AuthorizationServer['grants']['exchangeCode']>>;
    try {
      tokens = await deps.server.grants.exchangeCode({
        code: c.req.query('code'),
        clientId: CONSOLE_CLIENT_ID,
        redirectUri: consoleCallback(deps.base(c)),
        verifier: flow.verifier,
      });
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err; // the database away: an error page, not "sign in again"
      return kit.page(c, 'The consent could not be turned into a sign-in (a code used or run out); sign in again.', 400);
    }
    if (!(await deps.auth.signIn(c, tokens.access_token, tokens.refresh_token))) {
      await deps.server.grants.revoke(tokens.refresh_token, CONSOLE_CLIENT_ID).catch(() => {});
      return kit.page(c, 'What was granted does not include reading the project, which the console needs.', 403);
    }
    return c.redirect(flow.next, 303);
  });
}
