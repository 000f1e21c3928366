/**
 * The authorization server's token endpoint (OAuth 2.1 §3.2: authorization_code with PKCE, and
 * refresh_token) and its revocation endpoint (RFC 7009). Form-encoded requests; a client
 * authenticates as it registered (none, client_secret_post, client_secret_basic). Answers are never
 * cached; errors are OAuth's `{error, error_description}`, naming the parameter and the reason.
 */
import type { Context } from 'hono';
import type { AuthorizationServer } from '../../access/oauth/authorization-server.js';
import type { OAuthClient } from '../../access/oauth/clients.js';
import { OAuthError } from '../../access/oauth/oauth-error.js';
import type { AppEnv } from '../context.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * Parameters, one of each (RFC 6749 §3.1, §3.2: a repeated parameter is an error), except the
 * `repeatable` ones (a form's checkboxes), whose values are joined by spaces.
 */
export function paramsOf(search: URLSearchParams, repeatable: readonly string[] = []): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of search) {
    const had = params.get(name);
    if (had !== undefined && !repeatable.includes(name)) throw new OAuthError('invalid_request', `${name}: given more than once`);
    params.set(name, had === undefined ? value : `${had} ${value}`);
  }
  return params;
}

/** A form body's parameters. */
export async function formOf(c: Context<AppEnv>, repeatable: readonly string[] = []): Promise<Map<string, string>> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? ''))
    throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
  return paramsOf(new URLSearchParams(await c.req.text()), repeatable);
}

/** The client a request is from, authenticated: Basic (RFC 6749 §2.3.1) or client_id (and secret) in the form. */
export async function clientOf(
  server: AuthorizationServer,
  c: Context<AppEnv>,
  form: Map<string, string>,
  base: string,
): Promise<OAuthClient> {
  let id = form.get('client_id');
  let secret = form.get('client_secret');
  const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  if (basic) {
    const [user, pass] = Buffer.from(basic, 'base64').toString('utf8').split(/:(.*)/s);
    try {
      id = decodeURIComponent(user ?? '');
      secret = decodeURIComponent(pass ?? '');
    } catch {
      throw new OAuthError('invalid_client', 'Authorization: not a Basic client id and secret');
    }
    if (form.has('client_secret')) throw new OAuthError('invalid_request', 'client_secret: given in both the header and the body');
  }
  if (!id) throw new OAuthError('invalid_client', 'client_id: required');
  const client = await server.clients.find(id, base);
  if (!client) throw new OAuthError('invalid_client', 'client_id: no such client');
  server.clients.authenticate(client, secret);
  return client;
}

/** POST /oauth/token */
export async function tokenEndpoint(server: AuthorizationServer, c: Context<AppEnv>, base: string) {
  const form = await formOf(c);
  const client = await clientOf(server, c, form, base);
  const grantType = form.get('grant_type');
  const optional = (name: string) => form.get(name) ?? undefined;
  let answer: Awaited<ReturnType<AuthorizationServer['grants']['exchangeCode']>>;
  if (grantType === 'authorization_code') {
    answer = await server.grants.exchangeCode({
      code: optional('code'),
      clientId: client.id,
      redirectUri: optional('redirect_uri'),
      verifier: optional('code_verifier'),
      resource: optional('resource'),
    });
  } else if (grantType === 'refresh_token') {
    answer = await server.grants.refresh({ refreshToken: optional('refresh_token'), clientId: client.id, scope: optional('scope') });
  } else {
    throw new OAuthError(
      'unsupported_grant_type',
      `grant_type: ${grantType ? `${grantType} is not offered` : 'required'} (authorization_code, refresh_token)`,
    );
  }
  return c.json(answer, 200, NO_STORE);
}

/** POST /oauth/revoke (RFC 7009): 200 whether or not the token was live, so that nothing is learned. */
export async function revocationEndpoint(server: AuthorizationServer, c: Context<AppEnv>, base: string) {
  const form = await formOf(c);
  const client = await clientOf(server, c, form, base);
  const token = form.get('token');
  if (!token) throw new OAuthError('invalid_request', 'token: required');
  await server.grants.revoke(token, client.id);
  return c.body(null, 200, NO_STORE);
}

/** An OAuth error as these endpoints answer it. */
export function oauthErrorResponse(err: OAuthError, c: Context<AppEnv>) {
  const headers: Record<string, string> = { ...NO_STORE };
  if (err.status === 401) headers['www-authenticate'] = 'Basic realm="kiln"';
  return c.json(err.body(), err.status, headers);
}
