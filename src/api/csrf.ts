/**
 * Signed double-submit tokens for kiln's own HTML forms (the OAuth consent page, the console): an
 * HttpOnly, SameSite=Strict cookie of 256 random bits, and a form field carrying its MAC under a key
 * derived from kiln's secrets key (the same on every replica, so a form shown by one is taken by
 * another). A post is taken when the field is the cookie's MAC and its Origin, when a browser sends
 * one, is kiln's (`null`, from a page that withholds its referrer, leaves it to the cookie).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { SecretBox } from '../secrets/secret-box.js';
import type { AppEnv } from './context.js';

export function createCsrf(opts: {
  secretBox: SecretBox;
  /** What the MAC is for: a token of one form is no token of another's. */
  purpose: string;
  /** kiln's origin as its clients reach it (KILN_PUBLIC_URL, else the request's). */
  base: (c: Context<AppEnv>) => string;
  /** The cookie's name (without TLS; `__Host-` is put before it with TLS) and path. */
  name: string;
  path: string;
}) {
  const secure = (c: Context<AppEnv>) => opts.base(c).startsWith('https:');
  // __Host-: a cookie no subdomain can set, which needs Secure and path /
  const cookieName = (c: Context<AppEnv>) => (secure(c) ? `__Host-${opts.name}` : opts.name);
  const mac = (value: string) => opts.secretBox.mac(opts.purpose, value);
  return {
    /** The token a form carries (the cookie made on first sight). */
    token(c: Context<AppEnv>): string {
      let value = getCookie(c, cookieName(c));
      if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
        value = randomBytes(32).toString('base64url');
        setCookie(c, cookieName(c), value, { httpOnly: true, sameSite: 'Strict', secure: secure(c), path: secure(c) ? '/' : opts.path });
      }
      return mac(value);
    },
    /** Whether a post carrying `given` came from kiln's own form. */
    holds(c: Context<AppEnv>, given: string | undefined): boolean {
      const origin = c.req.header('origin');
      if (origin && origin !== 'null' && origin !== new URL(opts.base(c)).origin && origin !== new URL(c.req.url).origin) return false;
      const value = getCookie(c, cookieName(c));
      if (!value || !given) return false;
      const want = Buffer.from(mac(value));
      return want.length === Buffer.byteLength(given) && timingSafeEqual(want, Buffer.from(given));
    },
  };
}
