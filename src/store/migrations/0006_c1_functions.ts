import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // ConductorOne's Functions API (issue 12) over tools: what C1 has that a tool has not. A
  // function is a tool (same id); a commit is a tool revision (same id) once finalized, and
  // until then a set of uploads; an invocation is an async execution (same id) with its input.
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('c1_functions')
      .addColumn('tool_id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('function_type', 'text', (c) => c.notNull())
      .addColumn('published_commit_id', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('c1_functions_project').on('c1_functions').columns(['project', 'tool_id']).execute();
    await db.schema
      .createTable('c1_commits')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('function_id', 'text', (c) => c.notNull())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('filenames', 'text', (c) => c.notNull())
      .addColumn('finalized', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('c1_commits_function').on('c1_commits').columns(['function_id', 'id']).execute();
    // one row per uploaded file: uploads of one commit in parallel never overwrite each other
    await db.schema
      .createTable('c1_uploads')
      .addColumn('commit_id', 'text', (c) => c.notNull())
      .addColumn('filename', 'text', (c) => c.notNull())
      .addColumn('contents', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('c1_uploads_pk', ['commit_id', 'filename'])
      .execute();
    await db.schema
      .createTable('c1_invocations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('function_id', 'text', (c) => c.notNull())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('commit_id', 'text', (c) => c.notNull())
      .addColumn('input', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('c1_invocations_function').on('c1_invocations').columns(['function_id', 'id']).execute();
  },
};
