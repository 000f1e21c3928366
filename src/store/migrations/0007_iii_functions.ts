import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Functions registered the iii engine's way (issue 13): an id of the project's choosing, and
  // how to call it (an HTTP endpoint with its auth, the secret resolved to its id at registration).
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('iii_functions')
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('iii_functions_pk', ['project', 'id'])
      .execute();
  },
};
