import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // What a one-shot execution wrote under /mnt/req/out (issue 23), kept with it and pruned with it;
  // redacted before it is stored, base64 text (portable), bounded by KILN_OUTPUT_FILES_MAX_BYTES.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('execution_files')
      .addColumn('execution_id', 'text', (c) => c.notNull())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('size', 'integer', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('execution_files_pk', ['execution_id', 'path'])
      .execute();
  },
};
