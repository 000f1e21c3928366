import type { OutgoingHttpHeaders } from 'node:http';
import type { HttpAuth } from './host-rules.js';

/**
 * Injects a rule's credential into an upstream request, outside the sandbox:
 * basic and bearer set Authorization, header sets the named header (Riza's
 * examples call its value `token`), query sets a URL parameter. What the code
 * sent for the same header or parameter is replaced, never merged.
 */
export function applyAuth(auth: HttpAuth | null | undefined, url: URL, headers: OutgoingHttpHeaders): void {
  if (!auth) return;
  if (auth.basic) {
    const pair = `${auth.basic.user_id ?? ''}:${auth.basic.password}`;
    setHeader(headers, 'authorization', `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`);
  }
  if (auth.bearer) setHeader(headers, 'authorization', `Bearer ${auth.bearer.token}`);
  if (auth.header) setHeader(headers, auth.header.name, auth.header.value ?? auth.header.token ?? '');
  if (auth.query) url.searchParams.set(auth.query.key, auth.query.value);
}

function setHeader(headers: OutgoingHttpHeaders, name: string, value: string): void {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name.toLowerCase()) delete headers[key];
  headers[name.toLowerCase()] = value;
}
