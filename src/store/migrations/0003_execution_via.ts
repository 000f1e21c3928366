import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // The surface an execution came through (issue 11 on): 'api' for every row logged before.
  async up(db: Kysely<any>) {
    await db.schema
      .alterTable('executions')
      .addColumn('via', 'text', (c) => c.notNull().defaultTo('api'))
      .execute();
  },
};
