import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // A tool made of several files with another entry point (a ConductorOne function, issue 12):
  // the files besides its code, and which function of the module it calls.
  async up(db: Kysely<any>) {
    await db.schema.alterTable('tool_revisions').addColumn('files', 'text').execute();
    await db.schema.alterTable('tool_revisions').addColumn('entry', 'text').execute();
  },
};
