import type { Kysely } from 'kysely';
import { canonicalTimestamp, pageSize, toJson, type Page } from '../page.js';
import type { SessionEndReason, SessionRecord, SessionStatus, SessionStore } from './records.js';

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
}

export interface SessionTables {
  sessions: SessionsTable;
}

function toRow(s: SessionRecord): SessionsTable {
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
  };
}

function toRecord(row: SessionsTable): SessionRecord {
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
  };
}

/** The SessionStore in portable SQL (SQLite and Postgres); every read and write is scoped by project. */
export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Kysely<SessionTables>) {}

  async create(session: SessionRecord): Promise<void> {
    await this.db.insertInto('sessions').values(toRow(session)).execute();
  }

  async get(project: string, id: string): Promise<SessionRecord | null> {
    const row = await this.db.selectFrom('sessions').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async list(project: string, page: Page & { status?: SessionStatus }): Promise<SessionRecord[]> {
    let query = this.db.selectFrom('sessions').selectAll().where('project', '=', project).orderBy('id', 'desc').limit(pageSize(page));
    if (page.status) query = query.where('status', '=', page.status);
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(toRecord);
  }

  async touch(project: string, id: string, at: { lastActiveAt: string; expiresAt: string }): Promise<SessionRecord | null> {
    const row = await this.db
      .updateTable('sessions')
      .set({ last_active_at: canonicalTimestamp(at.lastActiveAt), expires_at: canonicalTimestamp(at.expiresAt) })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returningAll()
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
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async runningOfEarlierStarts(instance: string, owner: string): Promise<SessionRecord[]> {
    // running sessions are few (KILN_SESSIONS_MAX bounds them): filtered here, not with LIKE's escapes
    const rows = await this.db.selectFrom('sessions').selectAll().where('status', '=', 'running').where('owner', '!=', owner).execute();
    return rows.filter((row) => row.owner.startsWith(`${instance}/`)).map(toRecord);
  }
}
