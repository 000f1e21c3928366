import { type Kysely, type Migration, sql } from 'kysely';

/** The stop reasons there were when this ran (a migration keeps its own list: a later one is not its). */
const STOP_REASONS = ['exited', 'timeout', 'out_of_memory', 'output_limit', 'sandbox_error', 'cancelled'];

export const migration: Migration = {
  // The console filters the log by stop reason and by tool (issue 28): the reason gets a column of
  // its own, and each an index that pages its rows newest first — a rare reason, or a tool that ran
  // once long ago, is found without reading the project's whole log (or every result's JSON).
  async up(db: Kysely<any>) {
    await db.schema.alterTable('executions').addColumn('stop_reason', 'text').execute();
    // The log's results are JSON.stringify's text (no spaces): a reason is found by its exact key
    // and value, which an escaped copy inside stdout ("\"stop_reason\"…") can never match.
    for (const reason of STOP_REASONS)
      await db
        .updateTable('executions')
        .set({ stop_reason: reason })
        .where('result', 'like', `%"stop_reason":"${reason}"%`)
        .where(sql.ref('stop_reason'), 'is', null)
        .execute();
    await db.schema.createIndex('executions_project_stop_id').on('executions').columns(['project', 'stop_reason', 'id']).execute();
    await db.schema.createIndex('executions_project_tool_id').on('executions').columns(['project', 'tool_id', 'id']).execute();
  },
};
