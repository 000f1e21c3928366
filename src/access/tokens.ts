/**
 * kiln as an OAuth 2.1 resource server (issue 26): an access token from the authorization server
 * kiln is configured to trust (KILN_OAUTH_ISSUER: Keycloak, Auth0, Entra, …) is a JWT whose
 * signature is checked against that issuer's keys (its JWKS, fetched once and cached), its issuer,
 * its audience (kiln's resource, RFC 8707) and its expiry; a claim names the project, the `scope`
 * claim (or `scp`) the scopes, of which kiln reads its own (admin, manage, run, read, tools:…).
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { type Principal, type Scope, SCOPES } from './scopes.js';

export type OAuthSettings = Pick<
  Config,
  | 'KILN_OAUTH_ISSUER'
  | 'KILN_OAUTH_JWKS_URL'
  | 'KILN_OAUTH_AUDIENCE'
  | 'KILN_OAUTH_PROJECT_CLAIM'
  | 'KILN_OAUTH_PROJECT'
  | 'KILN_PUBLIC_URL'
>;

/** The audience (resource) kiln's tokens must name: configured, or kiln's /mcp. */
export const oauthAudience = (s: OAuthSettings) => s.KILN_OAUTH_AUDIENCE ?? `${s.KILN_PUBLIC_URL}/mcp`;

const PROJECT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A token's look: three base64url parts (a JWS); anything else is not one, and costs nothing to say so. */
const looksLikeJwt = (s: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s);

/** kiln's scopes among a token's (it may carry others: openid, profile): unknown ones are not kiln's business. */
function scopesOf(payload: JWTPayload): { scopes: Set<Scope>; tools: string[] | null } {
  const raw = typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp.map(String) : [];
  const scopes = new Set<Scope>();
  let tools: string[] | null = null;
  for (const s of raw.map((x) => x.replace(/^kiln:/, ''))) {
    if ((SCOPES as readonly string[]).includes(s)) scopes.add(s as Scope);
    else if (s.startsWith('tools:')) {
      tools = [...(tools ?? []), ...s.slice(6).split(',').filter(Boolean)];
      scopes.add('run');
    }
  }
  return { scopes, tools };
}

/** Checks access tokens of the configured issuer; null when kiln trusts none. */
export function createTokenVerifier(settings: OAuthSettings): ((token: string) => Promise<Principal | null>) | null {
  const issuer = settings.KILN_OAUTH_ISSUER;
  if (!issuer) return null;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  /** The issuer's keys: at KILN_OAUTH_JWKS_URL, or where its metadata (RFC 8414, else OpenID's) says. */
  async function keys() {
    if (jwks) return jwks;
    let url = settings.KILN_OAUTH_JWKS_URL;
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      if (url) break;
      const meta = await fetch(`${issuer!.replace(/\/$/, '')}${path}`)
        .then((r) => (r.ok ? (r.json() as Promise<{ jwks_uri?: string }>) : null))
        .catch(() => null);
      url = meta?.jwks_uri;
    }
    if (!url) throw new Error(`the issuer ${issuer} says nowhere where its keys are (set KILN_OAUTH_JWKS_URL)`);
    jwks = createRemoteJWKSet(new URL(url), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    return jwks;
  }
  return async (token) => {
    if (!looksLikeJwt(token)) return null;
    let payload: JWTPayload;
    const jwksNow = await keys().catch((err: unknown) => {
      throw new AppError(
        'SANDBOX_UNAVAILABLE',
        `the authorization server's keys could not be fetched (${String(err).slice(0, 200)}); retry`,
        [{ reason: 'issuer_unavailable' }],
        5,
      );
    });
    try {
      ({ payload } = await jwtVerify(token, jwksNow, {
        issuer,
        audience: oauthAudience(settings),
        clockTolerance: 30,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JOSEError) return null; // expired, wrong issuer or audience, bad signature: not a token of kiln's
      throw err;
    }
    const claimed = payload[settings.KILN_OAUTH_PROJECT_CLAIM];
    const project = typeof claimed === 'string' && claimed ? claimed : settings.KILN_OAUTH_PROJECT;
    if (!project || !PROJECT.test(project)) return null;
    const { scopes, tools } = scopesOf(payload);
    const who = payload.client_id ?? payload.azp ?? payload.sub ?? 'token';
    return { project, keyId: null, keyName: `oauth:${String(who).slice(0, 200)}`, scopes, tools };
  };
}
