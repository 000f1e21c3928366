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

export function consoleAuth(deps: { keys: Keys; secretBox: SecretBox; base: (c: Context<AppEnv>) => string }) {
  const secure = (c: Context<AppEnv>) => deps.base(c).startsWith('https:');
  const name = (c: Context<AppEnv>) => (secure(c) ? '__Host-kiln-console' : 'kiln-console');
  const path = (c: Context<AppEnv>) => (secure(c) ? '/' : '/console');

  async function principal(c: Context<AppEnv>): Promise<Principal | null> {
    const sealed = getCookie(c, name(c));
    if (!sealed) return null;
    try {
      const { key, until } = JSON.parse(deps.secretBox.open(sealed, AAD)) as { key: string; until: number };
      if (!(until > Date.now())) return null;
      return await deps.keys.authenticate(key);
    } catch {
      return null; // not a cookie of this kiln's (another secrets key, or made up)
    }
  }

  return {
    /** The key's principal once it is signed in; null for a key that is not one, or may not read. */
    async signIn(c: Context<AppEnv>, key: string): Promise<Principal | null> {
      const who = await deps.keys.authenticate(key);
      if (!who || !allows(who, 'read')) return null;
      const sealed = deps.secretBox.seal(JSON.stringify({ key, until: Date.now() + LIFETIME_MS }), AAD);
      setCookie(c, name(c), sealed, { httpOnly: true, sameSite: 'Strict', secure: secure(c), path: path(c), maxAge: LIFETIME_MS / 1000 });
      return who;
    },
    signOut(c: Context<AppEnv>): void {
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
