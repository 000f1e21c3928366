import type { Kysely } from 'kysely';
import { canonicalTimestamp, pageSize, toJson, type Page } from '../page.js';
import { type ChunkTables, CheckpointChunks, type SessionCheckpointChunksTable } from './checkpoint-chunks.js';
import type { SessionCheckpoint, SessionEndReason, SessionRecord, SessionStatus, SessionStore } from './records.js';

/** The sessions table (migration 0010) as Kysely sees it, and its mapping to records. */

export interface SessionsTable {
  id: string;
  project: string;
  language: string;
  runtime_revision_id: string | null;
  memory_mib: number;
  idle_timeout_seconds: number;
  max_lifetime_seconds: number;
  status: string;
  end_reason: string | null;
  end_detail: string | null;
  owner: string;
  created_at: string;
  last_active_at: string;
  expires_at: string;
  ends_at: string;
  ended_at: string | null;
  settings: string; // JSON
  spec: string | null; // sealed
  owner_url: string | null;
  restored: number;
  checkpoint_generation: number;
  checkpoint_chunks: number;
  checkpoint_bytes: number;
  checkpointed_at: string | null;
}

export interface SessionTables {
  sessions: SessionsTable;
  session_checkpoint_chunks: SessionCheckpointChunksTable;
}

const RECORD_COLUMNS = [
  'id',
  'project',
  'language',
  'runtime_revision_id',
  'memory_mib',
  'idle_timeout_seconds',
  'max_lifetime_seconds',
  'status',
  'end_reason',
  'end_detail',
  'owner',
  'created_at',
  'last_active_at',
  'expires_at',
  'ends_at',
  'ended_at',
  'settings',
  'owner_url',
  'restored',
  'checkpoint_generation',
  'checkpoint_chunks',
  'checkpoint_bytes',
  'checkpointed_at',
] as const;
type RecordRow = Pick<SessionsTable, (typeof RECORD_COLUMNS)[number]>;

function toRow(s: SessionRecord): RecordRow {
  return {
    id: s.id,
    project: s.project,
    language: s.language,
    runtime_revision_id: s.runtimeRevisionId,
    memory_mib: s.memoryMiB,
    idle_timeout_seconds: s.idleTimeoutSeconds,
    max_lifetime_seconds: s.maxLifetimeSeconds,
    status: s.status,
    end_reason: s.endReason,
    end_detail: s.endDetail,
    owner: s.owner,
    created_at: canonicalTimestamp(s.createdAt),
    last_active_at: canonicalTimestamp(s.lastActiveAt),
    expires_at: canonicalTimestamp(s.expiresAt),
    ends_at: canonicalTimestamp(s.endsAt),
    ended_at: s.endedAt && canonicalTimestamp(s.endedAt),
    settings: toJson(s.settings),
    owner_url: s.ownerUrl,
    restored: s.restored ? 1 : 0,
    checkpoint_generation: s.checkpoint.generation,
    checkpoint_chunks: s.checkpoint.chunks,
    checkpoint_bytes: s.checkpoint.bytes,
    checkpointed_at: s.checkpoint.at && canonicalTimestamp(s.checkpoint.at),
  };
}

function toRecord(row: RecordRow): SessionRecord {
  return {
    id: row.id,
    project: row.project,
    language: row.language,
    runtimeRevisionId: row.runtime_revision_id,
    memoryMiB: row.memory_mib,
    idleTimeoutSeconds: row.idle_timeout_seconds,
    maxLifetimeSeconds: row.max_lifetime_seconds,
    status: row.status as SessionStatus,
    endReason: row.end_reason as SessionEndReason | null,
    endDetail: row.end_detail,
    owner: row.owner,
    createdAt: row.created_at,
    lastActiveAt: row.last_active_at,
    expiresAt: row.expires_at,
    endsAt: row.ends_at,
    endedAt: row.ended_at,
    settings: JSON.parse(row.settings) as unknown,
    ownerUrl: row.owner_url,
    restored: Boolean(row.restored),
    checkpoint: {
      generation: Number(row.checkpoint_generation),
      chunks: Number(row.checkpoint_chunks),
      bytes: Number(row.checkpoint_bytes),
      at: row.checkpointed_at,
    },
  };
}

/** The SessionStore in portable SQL (SQLite and Postgres); every read and write is scoped by project. */
export class KyselySessionStore implements SessionStore {
  private readonly chunks: CheckpointChunks;

  constructor(private readonly db: Kysely<SessionTables>) {
    // the same database, seen through the columns a checkpoint touches
    this.chunks = new CheckpointChunks(db as unknown as Kysely<ChunkTables>);
  }

  async create(session: SessionRecord, spec: string): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ ...toRow(session), spec })
      .execute();
  }

  async spec(project: string, id: string): Promise<string | null> {
    const row = await this.db.selectFrom('sessions').select('spec').where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return row?.spec ?? null;
  }

  async get(project: string, id: string): Promise<SessionRecord | null> {
    const row = await this.db
      .selectFrom('sessions')
      .select(RECORD_COLUMNS)
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async list(project: string, page: Page & { status?: SessionStatus }): Promise<SessionRecord[]> {
    let query = this.db
      .selectFrom('sessions')
      .select(RECORD_COLUMNS)
      .where('project', '=', project)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.status) query = query.where('status', '=', page.status);
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(toRecord);
  }

  async projectOf(id: string): Promise<string | null> {
    const row = await this.db.selectFrom('sessions').select('project').where('id', '=', id).executeTakeFirst();
    return row?.project ?? null;
  }

  async touch(
    project: string,
    id: string,
    at: { lastActiveAt: string; expiresAt: string; idleTimeoutSeconds?: number },
  ): Promise<SessionRecord | null> {
    const row = await this.db
      .updateTable('sessions')
      .set({
        last_active_at: canonicalTimestamp(at.lastActiveAt),
        expires_at: canonicalTimestamp(at.expiresAt),
        ...(at.idleTimeoutSeconds === undefined ? {} : { idle_timeout_seconds: at.idleTimeoutSeconds }),
      })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returning(RECORD_COLUMNS)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async end(
    project: string,
    id: string,
    end: { reason: SessionEndReason; detail: string | null; at: string },
  ): Promise<SessionRecord | null> {
    const row = await this.db
      .updateTable('sessions')
      .set({ status: 'ended', end_reason: end.reason, end_detail: end.detail, ended_at: canonicalTimestamp(end.at) })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '!=', 'ended')
      .returning(RECORD_COLUMNS)
      .executeTakeFirst();
    if (row) await this.db.deleteFrom('session_checkpoint_chunks').where('session_id', '=', id).execute();
    return row ? toRecord(row) : null;
  }

  async runningElsewhere(owner: string): Promise<SessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(RECORD_COLUMNS)
      .where('status', '=', 'running')
      .where('owner', '!=', owner)
      .execute();
    return rows.map(toRecord);
  }

  async pause(project: string, id: string, owner: string): Promise<SessionRecord | null> {
    const row = await this.db
      .updateTable('sessions')
      .set({ status: 'paused' })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('owner', '=', owner)
      .returning(RECORD_COLUMNS)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async claim(
    project: string,
    id: string,
    seen: { status: 'paused' } | { status: 'running'; owner: string },
    to: { owner: string; ownerUrl: string | null; lastActiveAt: string; expiresAt: string },
  ): Promise<SessionRecord | null> {
    let update = this.db
      .updateTable('sessions')
      .set({
        status: 'running',
        owner: to.owner,
        owner_url: to.ownerUrl,
        restored: 1,
        last_active_at: canonicalTimestamp(to.lastActiveAt),
        expires_at: canonicalTimestamp(to.expiresAt),
      })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '=', seen.status);
    if (seen.status === 'running') update = update.where('owner', '=', seen.owner);
    const row = await update.returning(RECORD_COLUMNS).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async endExpired(now: string): Promise<SessionRecord[]> {
    const at = canonicalTimestamp(now);
    const due = await this.db
      .selectFrom('sessions')
      .select(['project', 'id', 'ends_at'])
      .where('status', '=', 'paused')
      .where((eb) => eb.or([eb('expires_at', '<=', at), eb('ends_at', '<=', at)]))
      .execute();
    const ended: SessionRecord[] = [];
    for (const row of due) {
      const reason = row.ends_at <= at ? 'max_lifetime' : 'idle_timeout';
      const record = await this.end(row.project, row.id, { reason, detail: 'it was paused', at: now });
      if (record) ended.push(record);
    }
    return ended;
  }

  writeChunk = (id: string, generation: number, seq: number, data: string) => this.chunks.write(id, generation, seq, data);
  commitCheckpoint = (project: string, id: string, checkpoint: SessionCheckpoint) => this.chunks.commit(project, id, checkpoint);
  readChunk = (id: string, generation: number, seq: number) => this.chunks.read(id, generation, seq);
  dropUncommitted = (id: string) => this.chunks.dropUncommitted(id);
}
