/**
 * The authorization endpoint of kiln's authorization server (OAuth 2.1 §4.1.1): GET shows the
 * consent page, POST is the person's answer. The person proves they may grant by presenting a kiln
 * key with `admin` (the client gets that key's project) or a one-time code from the CLI. A request
 * kiln cannot answer to the client (no such client, a redirect URI it did not register) is refused
 * on the page; any other problem goes back to the client's redirect URI as OAuth's error.
 *
 * Safe against framing (X-Frame-Options, frame-ancestors) and cross-site posts (../csrf.ts).
 */
import type { Context } from 'hono';
import type { Keys } from '../../access/keys.js';
import type { AuthorizationServer } from '../../access/oauth/authorization-server.js';
import type { OAuthClient } from '../../access/oauth/clients.js';
import { OAuthError } from '../../access/oauth/oauth-error.js';
import { redirectSource, redirectUriMatches } from '../../access/oauth/redirect-uris.js';
import { allows, parseScopes, SCOPES, type Scope } from '../../access/scopes.js';
import type { Config } from '../../config.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { AppEnv } from '../context.js';
import { createCsrf } from '../csrf.js';
import { setPageHeaders } from '../page-headers.js';
import { ConsentPage, type ConsentView, RefusalPage, STYLE_HASH } from './consent-page.js';
import { publicBase } from './resource.js';
import { formOf, paramsOf } from './token.js';

/** The parameters an authorization request carries through the consent form. */
const CARRIED = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method', 'resource'];

/** A request refused on the page (nothing can be sent to the client). */
class Refused extends Error {}

/** A request refused to the client, at its redirect URI. */
class SentBack extends Error {
  constructor(readonly location: string) {
    super('sent back to the client');
  }
}

interface AuthorizationRequest {
  client: OAuthClient;
  redirectUri: string;
  /** Whether the request named it (then the token request must name it too: RFC 6749 §4.1.3). */
  redirectGiven: boolean;
  state: string | undefined;
  challenge: string;
  resource: string;
  offered: Scope[];
  tools: string;
  params: Record<string, string>;
}

/** `uri` with the parameters given (those undefined left out): where the client is sent back. */
function withParams(uri: string, params: Record<string, string | undefined>) {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

export function authorizeRoutes(deps: {
  server: AuthorizationServer;
  keys: Keys;
  secretBox: SecretBox;
  settings: Pick<Config, 'KILN_PUBLIC_URL'>;
}) {
  const { server } = deps;
  const issuer = (c: Context<AppEnv>) => publicBase(c, deps.settings);
  const csrf = createCsrf({ secretBox: deps.secretBox, purpose: 'oauth consent', base: issuer, name: 'kiln-consent', path: '/oauth' });

  /** Checks the request as OAuth 2.1 and MCP have it; Refused before the redirect URI is trusted, OAuthError after. */
  async function read(c: Context<AppEnv>, given: Map<string, string>): Promise<AuthorizationRequest> {
    const clientId = given.get('client_id');
    const client = clientId
      ? await server.clients.find(clientId, issuer(c)).catch((e: unknown) => Promise.reject(new Refused((e as Error).message)))
      : null;
    if (!client) throw new Refused('client_id: no such client is registered with this kiln.');
    const asked = given.get('redirect_uri');
    const redirectUri = asked ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
    const matches = (r: string) => (client.exactRedirect ? r === redirectUri : redirectUriMatches(r, redirectUri!));
    if (!redirectUri || !client.redirectUris.some(matches)) throw new Refused('redirect_uri: not one the client registered.');
    const params = Object.fromEntries(CARRIED.flatMap((n) => (given.has(n) ? [[n, given.get(n)!]] : [])));
    const request = { client, redirectUri, redirectGiven: asked !== undefined, state: given.get('state'), params };
    if (given.get('response_type') !== 'code')
      throw redirectError(request, new OAuthError('unsupported_response_type', 'response_type: must be code'), c);
    const challenge = given.get('code_challenge') ?? '';
    if (given.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge))
      throw redirectError(
        request,
        new OAuthError('invalid_request', 'code_challenge: required, with code_challenge_method S256 (PKCE)'),
        c,
      );
    const base = issuer(c);
    const resource = given.get('resource') ?? `${base}/mcp`;
    if (!URL.canParse(resource) || new URL(resource).origin !== new URL(base).origin)
      throw redirectError(request, new OAuthError('invalid_target', `resource: tokens of this server are for ${base} only`), c);
    const words = (given.get('scope') ?? '')
      .split(' ')
      .filter(Boolean)
      .map((s) => s.replace(/^kiln:/, ''));
    const offered = SCOPES.filter((s) => words.includes(s));
    const tools = words
      .filter((w) => w.startsWith('tools:'))
      .map((w) => w.slice('tools:'.length))
      .join(',');
    return { ...request, challenge, resource, offered: offered.length ? offered : ['run', 'read'], tools };
  }

  // RFC 9207: `iss` on every answer sent back, errors too (ChatGPT's stable callback requires it)
  function redirectError(r: Pick<AuthorizationRequest, 'redirectUri' | 'state'>, err: OAuthError, c: Context<AppEnv>) {
    return new SentBack(withParams(r.redirectUri, { error: err.code, error_description: err.message, state: r.state, iss: issuer(c) }));
  }

  /** The page, with headers that keep it out of frames and run nothing but its own style. */
  function page(c: Context<AppEnv>, body: Promise<string> | string, status: 200 | 400 | 401 | 403, formTarget?: string) {
    // a form's redirect is checked by the browser against form-action too: the client's place is named
    setPageHeaders(c, { style: STYLE_HASH }, formTarget ? [redirectSource(formTarget)] : []);
    return c.html(body, status);
  }

  function consent(c: Context<AppEnv>, r: AuthorizationRequest, status: 200 | 401 | 403, extra: Partial<ConsentView> = {}) {
    const view: ConsentView = {
      clientName: r.client.name,
      clientHost: r.client.documentHost || new URL(r.redirectUri).host || r.redirectUri,
      redirectHost: new URL(r.redirectUri).host || r.redirectUri,
      offered: r.offered,
      checked: new Set(r.offered.filter((s) => s !== 'admin')),
      tools: r.tools,
      params: r.params,
      csrf: csrf.token(c),
      ...extra,
    };
    return page(c, `<!doctype html>${ConsentPage(view)}`, status, r.redirectUri);
  }

  /** Who may grant, from what the person typed: the project of an admin key, or of a one-time code. */
  async function grantor(credential: string): Promise<string | null> {
    if (credential.startsWith('koc_')) return server.grants.redeemConsentCode(credential);
    const principal = await deps.keys.authenticate(credential);
    return principal && allows(principal, 'admin') ? principal.project : null;
  }

  async function answer(c: Context<AppEnv>, form: Map<string, string>) {
    const r = await read(c, form);
    if (!csrf.holds(c, form.get('csrf')))
      return consent(c, r, 403, { error: 'This form expired or came from another site. Check and submit it again.' });
    if (form.get('decision') !== 'allow')
      return c.redirect(withParams(r.redirectUri, { error: 'access_denied', state: r.state, iss: issuer(c) }), 303);
    const chosen = (form.get('grant_scope') ?? '').split(' ');
    const scopes: string[] = r.offered.filter((s) => chosen.includes(s));
    const tools = (form.get('tools') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const keep = { checked: new Set(scopes as Scope[]), tools: tools.join(',') };
    const notAnId = tools.find((t) => !/^tool_[0-9a-f]{24}$/.test(t));
    if (notAnId) return consent(c, r, 403, { ...keep, error: `${notAnId} is not a tool id (tool_ and 24 hex digits)` });
    if (!scopes.length && !tools.length) return consent(c, r, 403, { ...keep, error: 'Choose at least one thing it may do.' });
    if (tools.length) scopes.push(`tools:${tools.join(',')}`);
    try {
      parseScopes(scopes);
    } catch (err) {
      return consent(c, r, 403, { ...keep, error: (err as Error).message });
    }
    const project = await grantor(form.get('credential') ?? '');
    if (!project) return consent(c, r, 401, { ...keep, error: 'That is not a kiln key with the admin scope, nor a live one-time code.' });
    const code = await server.grants.authorize({
      clientId: r.client.id,
      clientName: r.client.name,
      project,
      scopes,
      redirectUri: r.redirectUri,
      redirectGiven: r.redirectGiven,
      codeChallenge: r.challenge,
      resource: r.resource,
    });
    return c.redirect(withParams(r.redirectUri, { code, state: r.state, iss: issuer(c) }), 303);
  }

  /** Runs a step, turning its refusals into the page or the redirect they call for. */
  async function guarded(c: Context<AppEnv>, step: () => Promise<Response>) {
    try {
      return await step();
    } catch (err) {
      if (err instanceof SentBack) return c.redirect(err.location, 303);
      if (err instanceof Refused || err instanceof OAuthError)
        return page(c, `<!doctype html>${RefusalPage({ message: err.message })}`, 400);
      throw err;
    }
  }

  return {
    show: (c: Context<AppEnv>) => guarded(c, async () => consent(c, await read(c, paramsOf(new URL(c.req.url).searchParams)), 200)),
    submit: (c: Context<AppEnv>) => guarded(c, async () => answer(c, await formOf(c, ['grant_scope']))),
  };
}
