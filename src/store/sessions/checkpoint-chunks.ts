import type { Kysely } from 'kysely';
import { canonicalTimestamp } from '../page.js';
import type { SessionCheckpoint } from './records.js';

export interface SessionCheckpointChunksTable {
  session_id: string;
  generation: number;
  seq: number;
  data: string; // sealed
}

/** The tables a checkpoint touches: its chunks, and the session row's pointer to them. */
export interface ChunkTables {
  session_checkpoint_chunks: SessionCheckpointChunksTable;
  sessions: {
    id: string;
    project: string;
    status: string;
    checkpoint_generation: number;
    checkpoint_chunks: number;
    checkpoint_bytes: number;
    checkpointed_at: string | null;
  };
}

/**
 * A session's checkpoint in the store (migration 0011): its sealed chunks, of one generation at a
 * time, and the session row's pointer to the generation that is whole. Part of the SessionStore
 * (./kysely.ts), in a file of its own.
 */
export class CheckpointChunks {
  constructor(private readonly db: Kysely<ChunkTables>) {}

  async write(id: string, generation: number, seq: number, data: string): Promise<void> {
    await this.db.insertInto('session_checkpoint_chunks').values({ session_id: id, generation, seq, data }).execute();
  }

  async commit(project: string, id: string, checkpoint: SessionCheckpoint): Promise<boolean> {
    const done = await this.db
      .updateTable('sessions')
      .set({
        checkpoint_generation: checkpoint.generation,
        checkpoint_chunks: checkpoint.chunks,
        checkpoint_bytes: checkpoint.bytes,
        checkpointed_at: checkpoint.at && canonicalTimestamp(checkpoint.at),
      })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '!=', 'ended')
      .executeTakeFirst();
    if (!Number(done.numUpdatedRows)) return false;
    await this.dropUncommitted(id);
    return true;
  }

  async read(id: string, generation: number, seq: number): Promise<string | null> {
    const row = await this.db
      .selectFrom('session_checkpoint_chunks')
      .select('data')
      .where('session_id', '=', id)
      .where('generation', '=', generation)
      .where('seq', '=', seq)
      .executeTakeFirst();
    return row?.data ?? null;
  }

  async dropUncommitted(id: string): Promise<void> {
    // the committed generation, read in the same statement: an ended session (or none) keeps none
    await this.db
      .deleteFrom('session_checkpoint_chunks')
      .where('session_id', '=', id)
      .where((eb) =>
        eb(
          'generation',
          'not in',
          eb.selectFrom('sessions').select('checkpoint_generation').where('id', '=', id).where('status', '!=', 'ended'),
        ),
      )
      .execute();
  }
}
