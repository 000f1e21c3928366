import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Keys made through /v1/keys or the CLI (issue 26): a hash of each secret, never the secret;
  // scopes as JSON; revoked at once for every replica (each request reads its key's row). And
  // the executions log says which key ran each execution.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('api_keys_project').on('api_keys').columns(['project', 'id']).execute();
    await db.schema.alterTable('executions').addColumn('key_id', 'text').execute();
    await db.schema.alterTable('executions').addColumn('key_name', 'text').execute();
  },
};
