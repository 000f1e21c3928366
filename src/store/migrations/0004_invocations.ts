import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Async invocations (issue 12): the queue's durable half. Claimed by status and id (oldest
  // first); webhooks found by status and due time.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('invocations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('via', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('sealed_request', 'text')
      .addColumn('callback_url', 'text')
      .addColumn('owner', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('ended_at', 'text')
      .addColumn('webhook_status', 'text')
      .addColumn('webhook_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('webhook_next_at', 'text')
      .addColumn('webhook_last_error', 'text')
      .addColumn('webhook_first_at', 'text')
      .execute();
    await db.schema.createIndex('invocations_status_id').on('invocations').columns(['status', 'id']).execute();
    await db.schema.createIndex('invocations_project_id').on('invocations').columns(['project', 'id']).execute();
    await db.schema.createIndex('invocations_webhook_due').on('invocations').columns(['webhook_status', 'webhook_next_at']).execute();
    await db.schema
      .createTable('webhook_secrets')
      .addColumn('project', 'text', (c) => c.primaryKey())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('previous_sealed', 'text')
      .addColumn('rotated_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
