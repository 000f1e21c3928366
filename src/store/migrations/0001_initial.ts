import { sql, type Kysely, type Migration } from 'kysely';

export const migration: Migration = {
  // Kysely<any>, as Kysely advises: a migration must not depend on today's table types.
  async up(db: Kysely<any>) {
    // A tool points at its newest revision. No foreign key from head_revision_id: the two rows
    // point at each other, and the tool row has to exist first.
    await db.schema
      .createTable('tools')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('head_revision_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tools_project_id').on('tools').columns(['project', 'id']).execute();

    await db.schema
      .createTable('tool_revisions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tool_id', 'text', (c) => c.notNull().references('tools.id'))
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('code', 'text', (c) => c.notNull())
      .addColumn('input_schema', 'text', (c) => c.notNull())
      .addColumn('runtime_revision_id', 'text')
      .addColumn('env', 'text', (c) => c.notNull())
      .addColumn('http', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tool_revisions_tool_id').on('tool_revisions').columns(['tool_id', 'id']).execute();

    await db.schema
      .createTable('secrets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('secrets_project_id').on('secrets').columns(['project', 'id']).execute();

    await db.schema
      .createTable('executions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('exit_code', 'integer', (c) => c.notNull())
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('tool_id', 'text')
      .addColumn('revision_id', 'text')
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('executions_project_id').on('executions').columns(['project', 'id']).execute();
    // Partial (SQLite and Postgres both have them): failures are few, so "only non-zero exit
    // codes" pages through a small index in id order instead of filtering the whole project.
    // Queries must spell the same predicate, `exit_code <> 0`, for a planner to pick it.
    await db.schema
      .createIndex('executions_project_failed_id')
      .on('executions')
      .columns(['project', 'id'])
      .where(sql.ref('exit_code'), '<>', sql.lit(0))
      .execute();
    await db.schema.createIndex('executions_started_at').on('executions').column('started_at').execute();
  },
};
