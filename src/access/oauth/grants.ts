/**
 * Grants and their tokens, in kiln's authorization server. A grant is one client's access to one
 * project with some scopes, made when a person consents; its authorization code (single use, two
 * minutes, bound to the redirect URI and a PKCE S256 challenge), its access tokens (opaque,
 * short-lived) and its refresh tokens (single use: each refresh answers a new one) are kept as
 * SHA-256 hashes. A token's secret is `<kind>_<row id's 24 hex digits>_<43 characters>` (256 random
 * bits), so a check is one indexed read, on any replica; revoking the grant ends all its tokens at
 * once. A code or refresh token presented twice is a theft signal (OAuth 2.1 §4.3.1, §7.5.3): the
 * grant is revoked.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId } from '../../ids.js';
import type { OAuthGrantRecord, OAuthStore, OAuthTokenKind, OAuthTokenRecord } from '../../store/oauth/records.js';
import { parseScopes, type Principal } from '../scopes.js';
import { OAuthError } from './oauth-error.js';

const PREFIX: Record<OAuthTokenKind, string> = { code: 'kac', access: 'kat', refresh: 'krt', consent: 'koc' };
const TOKEN = /^(kac|kat|krt|koc)_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;
const CODE_SECONDS = 120;
const CONSENT_SECONDS = 600;
const PRUNE_EVERY_MS = 60 * 60_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Whether `secret` has the shape of one of this server's access tokens (a cheap test before any read). */
export const isAccessToken = (secret: string) => secret.startsWith('kat_') && TOKEN.test(secret);

/** PKCE S256 (RFC 7636 §4.6): base64url(SHA-256(verifier)) is the challenge; compared in constant time. */
function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const want = Buffer.from(challenge);
  return computed.length === want.length && timingSafeEqual(computed, want);
}

export interface TokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/**
 * The token table's two moves: a new token of a kind (its secret, shown once; the row keeps its
 * hash), and the live token a presented secret is. Expired rows are pruned now and then as tokens are made.
 */
function tokenTable(store: OAuthStore) {
  let prunedAt = 0;

  async function issue(
    kind: OAuthTokenKind,
    project: string,
    grantId: string | null,
    seconds: number,
    detail: Record<string, string> | null,
  ) {
    const id = newId('otk');
    const secret = `${PREFIX[kind]}_${id.slice(4)}_${randomBytes(32).toString('base64url')}`;
    const now = Date.now();
    const token: OAuthTokenRecord = {
      id,
      kind,
      grantId,
      project,
      detail,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + seconds * 1000).toISOString(),
      usedAt: null,
    };
    await store.createToken(token, sha256(secret).toString('hex'));
    if (now - prunedAt > PRUNE_EVERY_MS) {
      prunedAt = now;
      // expired a day ago: a late second use of a code still finds its row and revokes the grant
      void store.pruneTokens(new Date(now - 86_400_000).toISOString()).catch(() => {});
    }
    return secret;
  }

  /** The live token of `kind` a secret is, and its grant; null for anything else (same answer for every reason). */
  async function find(secret: string | undefined, kind: OAuthTokenKind) {
    const match = secret ? TOKEN.exec(secret) : null;
    if (!match || match[1] !== PREFIX[kind]) return null;
    const found = await store.findToken(`otk_${match[2]}`);
    const want = found ? Buffer.from(found.token.hash, 'hex') : sha256('');
    if (!timingSafeEqual(want, sha256(secret!)) || !found || found.token.kind !== kind) return null;
    if (found.grant?.revokedAt) return null;
    return { ...found, expired: Date.parse(found.token.expiresAt) <= Date.now() };
  }

  return { issue, find };
}

export function createOAuthGrants(deps: { store: OAuthStore; accessSeconds: number; refreshDays: number }) {
  const { store } = deps;
  const { issue, find } = tokenTable(store);

  /** An access token and a refresh token of the grant. */
  async function tokens(grant: OAuthGrantRecord, scopes: readonly string[]): Promise<TokenAnswer> {
    const scope = scopes.join(' ');
    return {
      access_token: await issue('access', grant.project, grant.id, deps.accessSeconds, { scope }),
      token_type: 'Bearer',
      expires_in: deps.accessSeconds,
      refresh_token: await issue('refresh', grant.project, grant.id, deps.refreshDays * 86_400, { scope }),
      scope,
    };
  }

  /** A code or refresh token used once already: the grant is revoked (whoever holds it, thief or owner, starts again). */
  async function redeem(found: { token: OAuthTokenRecord; grant: OAuthGrantRecord | null }, what: string) {
    if (await store.useToken(found.token.id, new Date().toISOString())) return;
    if (found.grant) await store.revokeGrant(found.grant.id, new Date().toISOString());
    throw new OAuthError('invalid_grant', `${what}: used already; the grant it belonged to is revoked`);
  }

  return {
    /** A person consented: a grant of `project` to the client, and its authorization code. */
    async authorize(f: {
      clientId: string;
      clientName: string;
      project: string;
      scopes: string[];
      redirectUri: string;
      /** Whether the authorization request named the redirect URI (false: the client's only one was used). */
      redirectGiven?: boolean;
      codeChallenge: string;
      resource: string;
    }): Promise<string> {
      parseScopes(f.scopes);
      const grant: OAuthGrantRecord = {
        id: newId('grant'),
        project: f.project,
        clientId: f.clientId,
        clientName: f.clientName,
        scopes: f.scopes,
        createdAt: new Date().toISOString(),
        revokedAt: null,
      };
      await store.createGrant(grant);
      return issue('code', f.project, grant.id, CODE_SECONDS, {
        redirect_uri: f.redirectUri,
        redirect_given: f.redirectGiven === false ? 'no' : 'yes',
        code_challenge: f.codeChallenge,
        resource: f.resource,
      });
    },

    /** grant_type=authorization_code (OAuth 2.1 §4.1.3). */
    async exchangeCode(f: { code?: string; clientId: string; redirectUri?: string; verifier?: string; resource?: string }) {
      const found = await find(f.code, 'code');
      if (!found || found.expired || !found.grant || found.grant.clientId !== f.clientId)
        throw new OAuthError('invalid_grant', 'code: unknown, expired, or issued to another client');
      const detail = found.token.detail ?? {};
      // required when the authorization request named one (RFC 6749 §4.1.3), and then the same
      const named = detail.redirect_given !== 'no' || f.redirectUri !== undefined;
      if (named && f.redirectUri !== detail.redirect_uri)
        throw new OAuthError('invalid_grant', 'redirect_uri: not the one the code was issued to');
      if (!f.verifier || !pkceMatches(f.verifier, detail.code_challenge ?? ''))
        throw new OAuthError('invalid_grant', 'code_verifier: does not match the code_challenge');
      if (f.resource !== undefined && f.resource !== detail.resource)
        throw new OAuthError('invalid_target', 'resource: not the resource the code was issued for');
      // spent only by a request that could have used it: a wrong guess at the verifier does not burn it
      await redeem(found, 'code');
      return tokens(found.grant, found.grant.scopes);
    },

    /** grant_type=refresh_token (OAuth 2.1 §4.3): a new pair; the old refresh token is spent. `scope` may narrow, never widen. */
    async refresh(f: { refreshToken?: string; clientId: string; scope?: string }) {
      const found = await find(f.refreshToken, 'refresh');
      if (!found || found.expired || !found.grant || found.grant.clientId !== f.clientId)
        throw new OAuthError('invalid_grant', 'refresh_token: unknown, expired, revoked, or issued to another client');
      const had = (found.token.detail?.scope ?? found.grant.scopes.join(' ')).split(' ');
      const asked = f.scope?.split(' ').filter(Boolean);
      if (asked?.some((s) => !had.includes(s))) throw new OAuthError('invalid_scope', `scope: wider than the grant's (${had.join(' ')})`);
      // a tools: limit is kept whatever is asked: leaving it out would lift it, not narrow anything
      const limits = had.filter((s) => s.startsWith('tools:'));
      const kept = asked?.length ? [...new Set([...asked, ...limits])] : had;
      await redeem(found, 'refresh_token');
      return tokens(found.grant, kept);
    },

    /** RFC 7009: a token of the client ends its grant; anything else is answered the same, as the RFC asks. */
    async revoke(secret: string, clientId: string): Promise<void> {
      for (const kind of ['access', 'refresh'] as const) {
        const found = await find(secret, kind);
        if (found?.grant && found.grant.clientId === clientId) await store.revokeGrant(found.grant.id, new Date().toISOString());
      }
    },

    /** Who an access token is: its grant's project and scopes; null for an unknown, expired or revoked one. */
    async verifyAccess(secret: string): Promise<Principal | null> {
      const found = await find(secret, 'access');
      if (!found || found.expired || !found.grant) return null;
      let parsed: ReturnType<typeof parseScopes>;
      try {
        parsed = parseScopes((found.token.detail?.scope ?? found.grant.scopes.join(' ')).split(' '));
      } catch {
        return null; // scopes this kiln no longer reads: the token is worth nothing, never an error
      }
      const { scopes, tools } = parsed;
      return {
        project: found.grant.project,
        keyId: found.grant.id,
        keyName: `oauth:${found.grant.clientName.slice(0, 100)}`,
        scopes,
        tools,
      };
    },

    /** A one-time code (the CLI prints it) with which a person consents for `project` on the consent page. */
    consentCode: (project: string) => issue('consent', project, null, CONSENT_SECONDS, null),

    /** The project of a one-time consent code, spending it; null for none. */
    async redeemConsentCode(secret: string): Promise<string | null> {
      const found = await find(secret, 'consent');
      if (!found || found.expired) return null;
      return (await store.useToken(found.token.id, new Date().toISOString())) ? found.token.project : null;
    },
  };
}

export type OAuthGrants = ReturnType<typeof createOAuthGrants>;
