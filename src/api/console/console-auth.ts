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
import { allows, type Principal } from '../../access/scopes.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { AppEnv } from '../context.js';

const AAD = 'kiln console session';
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

  async function principal(c: Context<AppEnv>): Promise<Principal | null> {
    const h = held(c);
    if (!h) return null;
    const who = await deps.keys.authenticate(h.key);
    if (who || !h.refresh || !deps.tokens) return who;
    // an access token of kiln's own server that ran out: its refresh token gets the next
    const { tokens } = deps;
    let next = refreshing.get(h.refresh);
    if (!next) {
      next = tokens.refresh(h.refresh).catch(() => null);
      refreshing.set(h.refresh, next);
      void next.finally(() => setTimeout(() => refreshing.delete(h.refresh!), 10_000).unref());
    }
    const fresh = await next;
    if (!fresh) return null;
    hold(c, { key: fresh.access_token, refresh: fresh.refresh_token, until: h.until });
    return deps.keys.authenticate(fresh.access_token);
  }

  return {
    /** The key's (or token's) principal once it is signed in; null for one that is not, or may not read. */
    async signIn(c: Context<AppEnv>, key: string, refresh?: string): Promise<Principal | null> {
      const who = await deps.keys.authenticate(key);
      if (!who || !allows(who, 'read')) return null;
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
      const who = await principal(c);
      if (!who) {
        // the page's script asking for a fragment or a stream: no page to send it to
        if (c.req.header('kiln-fragment') || /text\/event-stream/.test(c.req.header('accept') ?? '')) return c.text('Signed out.', 401);
        const back = new URL(c.req.url);
        return c.redirect(`/console/sign-in?next=${encodeURIComponent(back.pathname + back.search)}`, 303);
      }
      c.set('principal', who);
      c.set('project', who.project);
      await next();
    }) as MiddlewareHandler<AppEnv>,
  };
}
