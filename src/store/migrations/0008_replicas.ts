import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Several kilns on one database (issue 14). Each says it is alive here every few seconds: what
  // a kiln that stopped saying so left running ends `interrupted`, by whichever kiln sees it
  // first. A cancel of a running invocation is written on its row, for the kiln running it.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('replicas')
      .addColumn('owner', 'text', (c) => c.primaryKey())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('seen_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('invocations').addColumn('cancel_requested_at', 'text').execute();
    await db.schema.createIndex('invocations_owner_status').on('invocations').columns(['owner', 'status']).execute();
  },
};
