import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Sessions (issue 23): a box kept across calls, and each session call in the executions log.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('runtime_revision_id', 'text')
      .addColumn('memory_mib', 'integer', (c) => c.notNull())
      .addColumn('idle_timeout_seconds', 'integer', (c) => c.notNull())
      .addColumn('max_lifetime_seconds', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('end_reason', 'text')
      .addColumn('end_detail', 'text')
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_active_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('ends_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('settings', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sessions_project_id').on('sessions').columns(['project', 'id']).execute();
    await db.schema.createIndex('sessions_status').on('sessions').columns(['status']).execute();
    await db.schema.alterTable('executions').addColumn('session_id', 'text').execute();
  },
};
