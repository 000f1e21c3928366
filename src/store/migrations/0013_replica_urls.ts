import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Where each kiln is reached (KILN_REPLICA_URL), said with its heartbeat (issue 24): a client
  // following a run's events through one replica is streamed them from the replica running it.
  async up(db: Kysely<any>) {
    await db.schema.alterTable('replicas').addColumn('url', 'text').execute();
  },
};
