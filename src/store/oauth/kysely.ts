import type { Kysely } from 'kysely';
import type { ClientAuthMethod, OAuthClientRecord, OAuthGrantRecord, OAuthStore, OAuthTokenKind, OAuthTokenRecord } from './records.js';

/** The OAuth tables (migration 0015) as Kysely sees them, and their mapping to records. */
export interface OAuthTables {
  oauth_clients: {
    id: string;
    name: string;
    redirect_uris: string; // JSON array
    auth_method: string;
    secret_hash: string | null;
    metadata: string; // JSON object
    created_at: string;
  };
  oauth_grants: {
    id: string;
    project: string;
    client_id: string;
    client_name: string;
    scopes: string; // JSON array
    created_at: string;
    revoked_at: string | null;
  };
  oauth_tokens: {
    id: string;
    kind: string;
    hash: string;
    grant_id: string | null;
    project: string;
    detail: string | null; // JSON object
    created_at: string;
    expires_at: string;
    used_at: string | null;
  };
}

const grantOf = (row: OAuthTables['oauth_grants']): OAuthGrantRecord => ({
  id: row.id,
  project: row.project,
  clientId: row.client_id,
  clientName: row.client_name,
  scopes: JSON.parse(row.scopes) as string[],
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

/** The OAuthStore in portable SQL (SQLite and Postgres). */
export class KyselyOAuthStore implements OAuthStore {
  constructor(private readonly db: Kysely<OAuthTables>) {}

  async createClient(client: OAuthClientRecord, secretHash: string | null): Promise<void> {
    await this.db
      .insertInto('oauth_clients')
      .values({
        id: client.id,
        name: client.name,
        redirect_uris: JSON.stringify(client.redirectUris),
        auth_method: client.authMethod,
        secret_hash: secretHash,
        metadata: JSON.stringify(client.metadata),
        created_at: client.createdAt,
      })
      .execute();
  }

  async findClient(id: string): Promise<(OAuthClientRecord & { secretHash: string | null }) | null> {
    const row = await this.db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    return {
      id: row.id,
      name: row.name,
      redirectUris: JSON.parse(row.redirect_uris) as string[],
      authMethod: row.auth_method as ClientAuthMethod,
      metadata: JSON.parse(row.metadata) as Record<string, unknown>,
      createdAt: row.created_at,
      secretHash: row.secret_hash,
    };
  }

  async createGrant(grant: OAuthGrantRecord): Promise<void> {
    await this.db
      .insertInto('oauth_grants')
      .values({
        id: grant.id,
        project: grant.project,
        client_id: grant.clientId,
        client_name: grant.clientName,
        scopes: JSON.stringify(grant.scopes),
        created_at: grant.createdAt,
        revoked_at: null,
      })
      .execute();
  }

  async revokeGrant(id: string, at: string): Promise<void> {
    await this.db.updateTable('oauth_grants').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }

  async createToken(token: OAuthTokenRecord, hash: string): Promise<void> {
    await this.db
      .insertInto('oauth_tokens')
      .values({
        id: token.id,
        kind: token.kind,
        hash,
        grant_id: token.grantId,
        project: token.project,
        detail: token.detail ? JSON.stringify(token.detail) : null,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
        used_at: null,
      })
      .execute();
  }

  async findToken(id: string) {
    const row = await this.db.selectFrom('oauth_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const grant = row.grant_id
      ? await this.db.selectFrom('oauth_grants').selectAll().where('id', '=', row.grant_id).executeTakeFirst()
      : undefined;
    const token: OAuthTokenRecord & { hash: string } = {
      id: row.id,
      kind: row.kind as OAuthTokenKind,
      hash: row.hash,
      grantId: row.grant_id,
      project: row.project,
      detail: row.detail ? (JSON.parse(row.detail) as Record<string, string>) : null,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      usedAt: row.used_at,
    };
    return { token, grant: grant ? grantOf(grant) : null };
  }

  async useToken(id: string, at: string): Promise<boolean> {
    // one UPDATE, conditional on the row being unused: of two redemptions at once, on any replicas, one wins
    const result = await this.db
      .updateTable('oauth_tokens')
      .set({ used_at: at })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async pruneTokens(before: string): Promise<number> {
    const result = await this.db.deleteFrom('oauth_tokens').where('expires_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async pruneClients(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('oauth_clients')
      .where('created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('oauth_grants').select('oauth_grants.id').whereRef('oauth_grants.client_id', '=', 'oauth_clients.id'))),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
