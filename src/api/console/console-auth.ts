/**
 * Signing in to the console (issue 28): a person presents a kiln key (one with `read` at least);
 * kiln answers a cookie holding that key sealed under its secrets key (AES-GCM, so the cookie is
 * opaque and cannot be forged or read), HttpOnly, SameSite=Strict, Secure over TLS, for 12 hours.
 * Each page opens it and authenticates the key again, so a revoked or expired key is signed out at
 * once on every replica, and the console sees exactly what the key's project and scopes allow.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Keys } from '../../access/keys.js';
import { OAuthError } from '../../access/oauth/oauth-error.js';
import { allows, type Principal } from '../../access/scopes.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { AppEnv } from '../context.js';

const AAD = 'kiln console session';
/** How long requests holding the same cookie share one refresh (a page and its live parts at once). */
const REFRESH_SHARED_MS = 60_000;
const LIFETIME_MS = 12 * 3600_000;

/** What the cookie holds: a key, or an access token of kiln's own server and its refresh token (./console-oauth.ts). */
interface Held {
  key: string;
  until: number;
  refresh?: string;
}

/** kiln's own authorization server, as the console uses it for a person signed in through it. */
export interface ConsoleTokens {
  refresh(refreshToken: string): Promise<{ access_token: string; refresh_token: string }>;
  revoke(token: string): Promise<void>;
}

export function consoleAuth(deps: { keys: Keys; secretBox: SecretBox; base: (c: Context<AppEnv>) => string; tokens?: ConsoleTokens }) {
  const secure = (c: Context<AppEnv>) => deps.base(c).startsWith('https:');
  const name = (c: Context<AppEnv>) => (secure(c) ? '__Host-kiln-console' : 'kiln-console');
  const path = (c: Context<AppEnv>) => (secure(c) ? '/' : '/console');
  // one refresh per refresh token at a time: a page and its live parts asking at once must not
  // present it twice (a refresh token used twice revokes its grant)
  const refreshing = new Map<string, Promise<{ access_token: string; refresh_token: string } | null>>();

  function hold(c: Context<AppEnv>, held: Held) {
    const sealed = deps.secretBox.seal(JSON.stringify(held), AAD);
    const maxAge = Math.max(1, Math.floor((held.until - Date.now()) / 1000));
    setCookie(c, name(c), sealed, { httpOnly: true, sameSite: 'Strict', secure: secure(c), path: path(c), maxAge });
  }
  function held(c: Context<AppEnv>): Held | null {
    const sealed = getCookie(c, name(c));
    if (!sealed) return null;
    try {
      const h = JSON.parse(deps.secretBox.open(sealed, AAD)) as Held;
      return h.until > Date.now() ? h : null;
    } catch {
      return null; // not a cookie of this kiln's (another secrets key, or made up)
    }
  }

  /**
   * Who the cookie signs in, and the cookie's next content when its access token had run out and
   * was refreshed: it is set once the page is answered (so that a response made whole by its
   * handler, a stream or a download, carries it too).
   */
  async function principal(c: Context<AppEnv>): Promise<{ who: Principal | null; fresh?: Held }> {
    const h = held(c);
    if (!h) return { who: null };
    const who = await deps.keys.authenticate(h.key);
    if (who || !h.refresh || !deps.tokens) return { who };
    const { tokens } = deps;
    let next = refreshing.get(h.refresh);
    if (!next) {
      // a refresh token kiln refuses (spent, revoked, run out) signs out; a database away is an error
      next = tokens.refresh(h.refresh).catch((err: unknown) => (err instanceof OAuthError ? null : Promise.reject(err)));
      refreshing.set(h.refresh, next);
      void next.catch(() => null).finally(() => setTimeout(() => refreshing.delete(h.refresh!), REFRESH_SHARED_MS).unref());
    }
    const pair = await next;
    if (!pair) return { who: null };
    return {
      who: await deps.keys.authenticate(pair.access_token),
      fresh: { key: pair.access_token, refresh: pair.refresh_token, until: h.until },
    };
  }

  return {
    /** The key's (or token's) principal once it is signed in; null for one that is not, or may not read. */
    async signIn(c: Context<AppEnv>, key: string, refresh?: string): Promise<Principal | null> {
      const who = await deps.keys.authenticate(key);
      if (!who || !allows(who, 'read')) return null;
      // a grant this browser held before is let go, not left alive for its refresh token's days
      const before = held(c);
      if (before?.refresh && deps.tokens) await deps.tokens.revoke(before.refresh).catch(() => {});
      hold(c, { key, until: Date.now() + LIFETIME_MS, ...(refresh ? { refresh } : {}) });
      return who;
    },
    /** Forgets the cookie; a grant of kiln's own server it held is revoked too. */
    async signOut(c: Context<AppEnv>): Promise<void> {
      const h = held(c);
      if (h?.refresh && deps.tokens) await deps.tokens.revoke(h.refresh).catch(() => {});
      deleteCookie(c, name(c), { path: path(c), secure: secure(c) });
    },
    /** Pages behind it: a visitor not signed in is sent to the sign-in page, back here after. */
    required: (async (c, next) => {
      const { who, fresh } = await principal(c);
      if (!who) {
        // the page's script asking for a fragment or a stream: no page to send it to
        if (c.req.header('kiln-fragment') || /text\/event-stream/.test(c.req.header('accept') ?? '')) return c.text('Signed out.', 401);
        const back = new URL(c.req.url);
        return c.redirect(`/console/sign-in?next=${encodeURIComponent(back.pathname + back.search)}`, 303);
      }
      c.set('principal', who);
      c.set('project', who.project);
      await next();
      if (fresh) hold(c, fresh);
    }) as MiddlewareHandler<AppEnv>,
  };
}
