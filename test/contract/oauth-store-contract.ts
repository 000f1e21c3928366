import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOAuthGrants } from '../../src/access/oauth/grants.js';
import { newId } from '../../src/ids.js';
import type { OAuthTokenRecord } from '../../src/store/oauth/records.js';
import type { Store } from '../../src/store/store.js';
import { newProject } from './records.js';

const aToken = (project: string, overrides: Partial<OAuthTokenRecord> = {}): OAuthTokenRecord => ({
  id: newId('otk'),
  kind: 'refresh',
  grantId: null,
  project,
  detail: { scope: 'run read' },
  createdAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
  usedAt: null,
  ...overrides,
});

/**
 * What every Store's OAuth state must do: clients and grants kept as given, a token used once only
 * (the second of two uses at once loses), a grant's revocation seen with its tokens, expired ones
 * pruned; and the grants over it issue, rotate and refuse as OAuth 2.1 has it.
 */
export function describeOAuthStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`OAuthStore contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('oauth');
    });
    afterEach(async () => {
      await store.close();
    });

    it('keeps clients and grants, uses a token once only, and revokes a grant with its tokens', async () => {
      const client = {
        id: newId('ocl'),
        name: 'c',
        redirectUris: ['https://a.test/cb'],
        authMethod: 'client_secret_basic' as const,
        metadata: { client_name: 'c', redirect_uris: ['https://a.test/cb'] },
        createdAt: new Date().toISOString(),
      };
      await store.oauth.createClient(client, 'ab'.repeat(32));
      expect(await store.oauth.findClient(client.id)).toEqual({ ...client, secretHash: 'ab'.repeat(32) });
      expect(await store.oauth.findClient(newId('ocl'))).toBeNull();
      const grant = {
        id: newId('grant'),
        project,
        clientId: client.id,
        clientName: 'c',
        scopes: ['run'],
        createdAt: new Date().toISOString(),
        revokedAt: null,
      };
      await store.oauth.createGrant(grant);
      const token = aToken(project, { grantId: grant.id });
      await store.oauth.createToken(token, 'cd'.repeat(32));
      expect(await store.oauth.findToken(token.id)).toEqual({ token: { ...token, hash: 'cd'.repeat(32) }, grant });
      const uses = await Promise.all([1, 2, 3].map(() => store.oauth.useToken(token.id, new Date().toISOString())));
      expect(uses.filter(Boolean)).toHaveLength(1);
      await store.oauth.revokeGrant(grant.id, '2026-01-01T00:00:00.000Z');
      expect((await store.oauth.findToken(token.id))?.grant?.revokedAt).toBe('2026-01-01T00:00:00.000Z');
      const old = aToken(project, { expiresAt: new Date(Date.now() - 3_600_000).toISOString() });
      await store.oauth.createToken(old, 'ef'.repeat(32));
      expect(await store.oauth.pruneTokens(new Date(Date.now() - 60_000).toISOString())).toBeGreaterThanOrEqual(1);
      expect(await store.oauth.findToken(old.id)).toBeNull();
      expect(await store.oauth.findToken(token.id)).not.toBeNull();
    });

    it('prunes clients registered long ago that no grant names, and keeps the others', async () => {
      const client = (createdAt: string) => ({
        id: newId('ocl'),
        name: 'c',
        redirectUris: ['https://a.test/cb'],
        authMethod: 'none' as const,
        metadata: {},
        createdAt,
      });
      const long = new Date(Date.now() - 10 * 86_400_000).toISOString();
      const [abandoned, used, fresh] = [client(long), client(long), client(new Date().toISOString())];
      for (const c of [abandoned, used, fresh]) await store.oauth.createClient(c, null);
      await store.oauth.createGrant({
        id: newId('grant'),
        project,
        clientId: used.id,
        clientName: 'c',
        scopes: ['read'],
        createdAt: long,
        revokedAt: long, // even revoked, the grant names it: its history stays readable
      });
      expect(await store.oauth.pruneClients(new Date(Date.now() - 7 * 86_400_000).toISOString())).toBe(1);
      expect(await store.oauth.findClient(abandoned.id)).toBeNull();
      expect(await store.oauth.findClient(used.id)).not.toBeNull();
      expect(await store.oauth.findClient(fresh.id)).not.toBeNull();
    });

    it('issues a pair for a code with PKCE, rotates refresh tokens, and revokes the grant on reuse', async () => {
      const grants = createOAuthGrants({ store: store.oauth, accessSeconds: 60, refreshDays: 1 });
      const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
      const code = await grants.authorize({
        clientId: 'ocl_a',
        clientName: 'A',
        project,
        scopes: ['run', 'read'],
        redirectUri: 'https://a.test/cb',
        codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        resource: 'https://kiln.test/mcp',
      });
      const exchange = (f: Partial<Parameters<typeof grants.exchangeCode>[0]> = {}) =>
        grants.exchangeCode({ code, clientId: 'ocl_a', redirectUri: 'https://a.test/cb', verifier, ...f });
      await expect(exchange({ clientId: 'ocl_b' })).rejects.toThrow(/another client/);
      await expect(exchange({ redirectUri: 'https://a.test/other' })).rejects.toThrow(/redirect_uri/);
      await expect(exchange({ verifier: 'A'.repeat(43) })).rejects.toThrow(/code_verifier/);
      await expect(exchange({ resource: 'https://other.test/mcp' })).rejects.toThrow(/resource/);
      const pair = await exchange(); // the refused tries did not spend it
      expect(await grants.verifyAccess(pair.access_token)).toMatchObject({ project, keyName: 'oauth:A' });
      const last = pair.access_token.at(-1) === 'A' ? 'B' : 'A';
      expect(await grants.verifyAccess(`${pair.access_token.slice(0, -1)}${last}`)).toBeNull();
      await expect(grants.refresh({ refreshToken: pair.refresh_token, clientId: 'ocl_a', scope: 'run admin' })).rejects.toThrow(/wider/);
      const narrower = await grants.refresh({ refreshToken: pair.refresh_token, clientId: 'ocl_a', scope: 'read' });
      expect(narrower.scope).toBe('read'); // the refused wider ask did not spend it
      expect((await grants.verifyAccess(narrower.access_token))?.scopes).toEqual(new Set(['read']));
      await expect(grants.refresh({ refreshToken: pair.refresh_token, clientId: 'ocl_a' })).rejects.toThrow(/used already/);
      expect(await grants.verifyAccess(narrower.access_token)).toBeNull(); // reuse revoked the grant
    });
  });
}
