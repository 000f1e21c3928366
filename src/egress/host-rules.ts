/** Riza's `http.allow` host patterns: an exact name, `*` for every host, `*.example.com` for its subdomains only. */

export interface HttpAuth {
  basic?: { user_id?: string; password: string } | null;
  bearer?: { token: string } | null;
  header?: { name: string; value?: string; token?: string } | null;
  query?: { key: string; value: string } | null;
}

export interface AllowRule {
  host: string;
  auth?: HttpAuth | null;
}

/** Lower case, no trailing dot, no IPv6 brackets: the form patterns are compared in. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[(.*)\]$/, '$1');
}

export function hostMatches(pattern: string, host: string): boolean {
  const p = normalizeHost(pattern);
  const h = normalizeHost(host);
  if (p === '*') return true;
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return p === h;
}

/** How specific a pattern is: an exact name beats any wildcard, a longer suffix beats a shorter one, `*` comes last. */
function specificity(pattern: string): number {
  const p = normalizeHost(pattern);
  if (p === '*') return 0;
  if (p.startsWith('*.')) return p.length;
  return Number.MAX_SAFE_INTEGER;
}

/** The rule that governs `host`, the most specific match first; null when the host is not allowed. */
export function findRule(rules: readonly AllowRule[], host: string): AllowRule | null {
  let best: AllowRule | null = null;
  for (const rule of rules) if (hostMatches(rule.host, host) && (!best || specificity(rule.host) > specificity(best.host))) best = rule;
  return best;
}
