/**
 * The headers of every HTML page kiln serves (the OAuth consent page, the console): a CSP that loads
 * nothing but the page's one style and, on the console, its one script (each by its hash, so no
 * injected script could run), fetches from kiln alone, posts forms to kiln only (and where a consent
 * sends the person back), no framing, no sniffing, no referrer beyond kiln, no cache.
 */
import type { Context } from 'hono';
import type { AppEnv } from './context.js';

export function setPageHeaders(c: Context<AppEnv>, hashes: { style: string; script?: string }, formTargets: readonly string[] = []): void {
  c.header(
    'Content-Security-Policy',
    [
      "default-src 'none'",
      `style-src ${hashes.style}`,
      ...(hashes.script ? [`script-src ${hashes.script}`, "connect-src 'self'"] : []),
      `form-action ${["'self'", ...formTargets].join(' ')}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
  );
  c.header('X-Frame-Options', 'DENY');
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cache-Control', 'no-store');
}
