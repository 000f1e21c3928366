import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // kiln's own OAuth 2.1 authorization server (issue 26): clients registered dynamically (RFC 7591;
  // a client of a metadata document is fetched, not kept), grants (a client's access to a project,
  // as a person consented), and the codes and tokens of each grant, each a hash of its secret only.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('oauth_clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('redirect_uris', 'text', (c) => c.notNull())
      .addColumn('auth_method', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('oauth_grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('client_name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('oauth_grants_project').on('oauth_grants').columns(['project', 'id']).execute();
    // kind: code, access, refresh, or consent (a one-time code the CLI prints); detail: a code's
    // redirect URI, PKCE challenge and resource (JSON). used_at makes codes and refresh tokens single-use.
    await db.schema
      .createTable('oauth_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'text')
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .execute();
    await db.schema.createIndex('oauth_tokens_grant').on('oauth_tokens').columns(['grant_id']).execute();
    await db.schema.createIndex('oauth_tokens_expires').on('oauth_tokens').columns(['expires_at']).execute();
  },
};
