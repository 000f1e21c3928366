/**
 * Which redirect URIs a client may register, and whether a request's matches one (OAuth 2.1 §2.3.1
 * and §7.5, RFC 8252 §7): https; http only to the machine itself (a native or CLI client); a
 * private-use scheme of a native app (`cursor://…`, `com.example.app:/cb`); never a fragment, nor
 * a scheme a browser would run or read locally. A match is exact, except that a loopback URI may
 * differ in port, as a native client's port is chosen when it starts (RFC 8252 §7.3).
 */
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const NEVER = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'blob:', 'about:', 'filesystem:', 'ws:', 'wss:', 'ftp:']);

/** Why `uri` cannot be a redirect URI; null when it can. */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > 2000) return 'is longer than 2000 characters';
  if (!URL.canParse(uri)) return 'is not an absolute URI';
  const url = new URL(uri);
  if (url.hash || uri.includes('#')) return 'must not have a fragment';
  if (NEVER.has(url.protocol)) return `may not use the ${url.protocol} scheme`;
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname))
    return 'may use http only to a loopback address (127.0.0.1, [::1], localhost); use https';
  if (url.username || url.password) return 'must not carry credentials';
  return null;
}

/** Whether a request's `given` redirect URI is the registered `registered` one. */
export function redirectUriMatches(registered: string, given: string): boolean {
  if (registered === given) return true;
  if (!URL.canParse(registered) || !URL.canParse(given)) return false;
  const a = new URL(registered);
  const b = new URL(given);
  return (
    a.protocol === 'http:' &&
    b.protocol === 'http:' &&
    LOOPBACK.has(a.hostname) &&
    a.hostname === b.hostname &&
    a.pathname === b.pathname &&
    a.search === b.search
  );
}

/** The CSP source a redirect to `uri` needs in form-action (browsers check a form's redirects too). */
export function redirectSource(uri: string): string {
  const url = new URL(uri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}
