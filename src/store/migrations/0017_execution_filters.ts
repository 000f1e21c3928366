import { type Kysely, type Migration, PostgresAdapter, sql } from 'kysely';

export const migration: Migration = {
  // The console filters the log by stop reason and by tool (issue 28): the reason gets a column of
  // its own, and each an index that pages its rows newest first — a rare reason, or a tool that ran
  // once long ago, is found without reading the project's whole log (or every result's JSON).
  async up(db: Kysely<any>) {
    await db.schema.alterTable('executions').addColumn('stop_reason', 'text').execute();
    // The rows logged before: the reason their result's JSON says, at its top level (one pass). A
    // result PostgreSQL's JSON cannot read (a NUL or a lone surrogate a program printed) keeps none
    // rather than failing the migration, and with it kiln's start.
    const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    const reason = postgres
      ? sql`(case when result ~* ${String.raw`\\u(0000|d[89a-f])`} then null else result::json ->> 'stop_reason' end)`
      : sql`(case when json_valid(result) then json_extract(result, '$.stop_reason') end)`;
    await db.updateTable('executions').set({ stop_reason: reason }).where(sql<boolean>`result <> 'null'`).execute();
    await db.schema.createIndex('executions_project_stop_id').on('executions').columns(['project', 'stop_reason', 'id']).execute();
    await db.schema.createIndex('executions_project_tool_id').on('executions').columns(['project', 'tool_id', 'id']).execute();
  },
};
