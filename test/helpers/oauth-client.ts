// An OAuthClientProvider as a connector keeps one (client registration, tokens, PKCE verifier), for
// the MCP SDK's own auth() flow; and a person at kiln's consent page, driven over HTTP as a
// browser with JavaScript off would: read the form, fill it in, post it with the page's cookie.
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export class TestOAuthProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  /** Where the SDK sent the person: kiln's authorization endpoint, with the request. */
  authorizationUrl: URL | undefined;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    readonly clientMetadataUrl?: string,
  ) {}

  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** The consent page's form as a browser sees it: its fields (hidden ones and checked boxes) and its cookie. */
export async function openConsent(url: URL | string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { redirect: 'manual', headers });
  const html = await res.text();
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const fields: [string, string][] = [];
  for (const m of html.matchAll(/<input([^>]*)>/g)) {
    const attr = (n: string) => new RegExp(`\\b${n}="([^"]*)"`).exec(m[1]!)?.[1];
    const type = attr('type');
    const name = attr('name');
    if (!name || (type === 'checkbox' && !/\bchecked\b/.test(m[1]!))) continue;
    if (type === 'hidden' || type === 'checkbox') fields.push([name, htmlText(attr('value') ?? '')]);
  }
  return { res, html, cookie, fields };
}

const htmlText = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Submits the consent form as the person would; the answer (a 303 to the client, or the page again). */
export async function submitConsent(
  page: Awaited<ReturnType<typeof openConsent>>,
  kiln: string,
  fill: { credential: string; decision?: 'allow' | 'deny'; tools?: string; scopes?: string[] },
  headers: Record<string, string> = {},
) {
  const form = new URLSearchParams(page.fields.filter(([n]) => !(fill.scopes && n === 'grant_scope')));
  for (const s of fill.scopes ?? []) form.append('grant_scope', s);
  form.set('credential', fill.credential);
  form.set('tools', fill.tools ?? '');
  form.set('decision', fill.decision ?? 'allow');
  return fetch(`${kiln}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: page.cookie, origin: kiln, ...headers },
    body: form,
  });
}
