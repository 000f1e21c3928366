import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Hardening (issue 20): a C1 upload's size kept beside it, so a commit's total is summed without
  // reading its files; and tools found by name (MCP, iii's kiln::) through an index rather than
  // a scan of every revision's code.
  async up(db: Kysely<any>) {
    await db.schema
      .alterTable('c1_uploads')
      .addColumn('bytes', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('tool_revisions_name').on('tool_revisions').columns(['project', 'name']).execute();
  },
};
