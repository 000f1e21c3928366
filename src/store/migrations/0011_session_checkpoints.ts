import type { Kysely, Migration } from 'kysely';

export const migration: Migration = {
  // Sessions survive a restart (issue 23): the create request sealed (its env and credentials are
  // secret), the address of the replica that holds the box, and the workspace's checkpoint: a tar,
  // gzipped, cut into chunks that are each sealed (base64 text, portable; never a whole tar in one
  // value), of one generation that the session row points at once all of it is written.
  async up(db: Kysely<any>) {
    for (const [name, type, fallback] of [
      ['spec', 'text', null],
      ['owner_url', 'text', null],
      ['restored', 'integer', 0],
      ['checkpoint_generation', 'integer', 0],
      ['checkpoint_chunks', 'integer', 0],
      ['checkpoint_bytes', 'integer', 0],
      ['checkpointed_at', 'text', null],
    ] as const)
      await db.schema
        .alterTable('sessions')
        .addColumn(name, type, (c) => (fallback === null ? c : c.notNull().defaultTo(fallback)))
        .execute();
    await db.schema
      .createTable('session_checkpoint_chunks')
      .addColumn('session_id', 'text', (c) => c.notNull())
      .addColumn('generation', 'integer', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('session_checkpoint_chunks_pk', ['session_id', 'generation', 'seq'])
      .execute();
  },
};
