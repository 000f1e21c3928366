import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // A tool called from code (issue 27) is an execution of its own, logged with the one that called it.
  async up(db: Kysely<any>) {
    await db.schema.alterTable('executions').addColumn('parent_id', 'text').execute();
  },
};
