import { sql, type Kysely } from 'kysely';
import { canonicalTimestamp, pageSize, toJson, type Page } from '../page.js';
import type {
  ExecutionFilter,
  ExecutionKind,
  ExecutionRecord,
  ExecutionStore,
  ExecutionSummary,
  ExecutionVia,
  PruneOptions,
} from './records.js';

/** The executions table (migration 0001 on) as Kysely sees it, and its mapping to records. */

export interface ExecutionsTable {
  id: string;
  project: string;
  kind: string;
  via: string;
  language: string;
  exit_code: number;
  duration_ms: number;
  started_at: string;
  tool_id: string | null;
  revision_id: string | null;
  session_id: string | null;
  parent_id: string | null;
  /** Its result's stop_reason (migration 0017), for the console's filter; null for a result without one. */
  stop_reason: string | null;
  /** The key that ran it (migration 0014): null for one of KILN_API_KEYS, or an execution from before keys. */
  key_id: string | null;
  key_name: string | null;
  request: string; // JSON
  result: string; // JSON
}

/** A one-shot execution's output file (migration 0012): base64 text, portable across the dialects. */
export interface ExecutionFilesTable {
  execution_id: string;
  project: string;
  path: string;
  size: number;
  data: string;
}

export interface ExecutionTables {
  executions: ExecutionsTable;
  execution_files: ExecutionFilesTable;
}

/** The stop reason a logged result says (every run's does; a record made another way may not). */
function stopReasonOf(result: unknown): string | null {
  const reason = (result as { stop_reason?: unknown } | null)?.stop_reason;
  return typeof reason === 'string' ? reason : null;
}

function executionToRow(e: ExecutionRecord): ExecutionsTable {
  return {
    id: e.id,
    project: e.project,
    kind: e.kind,
    via: e.via,
    language: e.language,
    exit_code: e.exitCode,
    duration_ms: e.durationMs,
    started_at: canonicalTimestamp(e.startedAt),
    tool_id: e.toolId,
    revision_id: e.revisionId,
    session_id: e.sessionId ?? null,
    parent_id: e.parentId ?? null,
    stop_reason: stopReasonOf(e.result),
    key_id: e.key?.id ?? null,
    key_name: e.key?.name ?? null,
    request: toJson(e.request),
    result: toJson(e.result),
  };
}

function rowToExecution(row: ExecutionsTable): ExecutionRecord {
  return {
    id: row.id,
    project: row.project,
    kind: row.kind as ExecutionKind,
    via: row.via as ExecutionVia,
    language: row.language,
    exitCode: row.exit_code,
    durationMs: row.duration_ms,
    startedAt: row.started_at,
    toolId: row.tool_id,
    revisionId: row.revision_id,
    ...(row.session_id ? { sessionId: row.session_id } : {}),
    ...(row.parent_id ? { parentId: row.parent_id } : {}),
    ...(row.key_name ? { key: { id: row.key_id, name: row.key_name } } : {}),
    request: JSON.parse(row.request) as unknown,
    result: JSON.parse(row.result) as unknown,
  };
}

/** The ExecutionStore in portable SQL (SQLite and Postgres); reads are scoped by project. */
export class KyselyExecutionStore implements ExecutionStore {
  constructor(private readonly db: Kysely<ExecutionTables>) {}

  async record(record: ExecutionRecord): Promise<void> {
    // idempotent: a retry of a write whose answer was lost (the database away) finds it written
    await this.db
      .insertInto('executions')
      .values(executionToRow(record))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async get(project: string, id: string): Promise<ExecutionRecord | null> {
    const row = await this.db.selectFrom('executions').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return row ? rowToExecution(row) : null;
  }

  async summaries(project: string, page: Page & ExecutionFilter): Promise<ExecutionSummary[]> {
    let query = this.db
      .selectFrom('executions')
      .select([
        'id',
        'kind',
        'via',
        'language',
        'exit_code',
        'duration_ms',
        'started_at',
        'tool_id',
        'revision_id',
        'session_id',
        'parent_id',
        'stop_reason',
        'key_id',
        'key_name',
      ])
      .where('project', '=', project)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    if (page.via) query = query.where('via', '=', page.via);
    if (page.toolId) query = query.where('tool_id', '=', page.toolId);
    // literals, as list() has it: the planner can then use the partial index of failed ones
    if (page.outcome === 'failed') query = query.where(sql<boolean>`exit_code <> 0`);
    if (page.outcome === 'ok') query = query.where(sql<boolean>`exit_code = 0`);
    if (page.stopReason) query = query.where('stop_reason', '=', page.stopReason);
    if (page.exitCode !== undefined) {
      query = query.where('exit_code', '=', page.exitCode);
      // spelled as the partial index of failed ones is, so a planner may read it
      if (page.exitCode !== 0) query = query.where(sql<boolean>`exit_code <> 0`);
    }
    if (page.startedAfter) query = query.where('started_at', '>=', canonicalTimestamp(page.startedAfter));
    if (page.startedBefore) query = query.where('started_at', '<', canonicalTimestamp(page.startedBefore));
    return (await query.execute()).map((row) => {
      const { request: _q, result: _r, project: _p, ...summary } = rowToExecution({ ...row, project, request: 'null', result: 'null' });
      return { ...summary, stopReason: row.stop_reason };
    });
  }

  async list(project: string, page: Page & { onlyNonZeroExitCodes?: boolean }): Promise<ExecutionRecord[]> {
    let query = this.db.selectFrom('executions').selectAll().where('project', '=', project).orderBy('id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    // A literal 0, not a bound parameter: the planner matches this against the partial index's
    // own `exit_code <> 0` (see migrations.ts), which it cannot do through a parameter.
    if (page.onlyNonZeroExitCodes) query = query.where(sql<boolean>`exit_code <> 0`);
    return (await query.execute()).map(rowToExecution);
  }

  async prune({ olderThan, keepPerProject, keep: own }: PruneOptions): Promise<number> {
    let removed = 0n;
    const byAge = await this.db.deleteFrom('executions').where('started_at', '<', canonicalTimestamp(olderThan)).executeTakeFirst();
    removed += byAge.numDeletedRows;

    const projects = await this.db.selectFrom('executions').select('project').distinct().execute();
    for (const { project } of projects) {
      const keep = Math.max(0, Math.floor(own?.[project] ?? keepPerProject));
      let query = this.db.deleteFrom('executions').where('project', '=', project);
      if (keep > 0) {
        // The oldest id still kept; everything older goes. Ids order by time, so no started_at.
        const cutoff = await this.db
          .selectFrom('executions')
          .select('id')
          .where('project', '=', project)
          .orderBy('id', 'desc')
          .limit(1)
          .offset(keep - 1)
          .executeTakeFirst();
        if (!cutoff) continue; // the project has no more than it may keep
        query = query.where('id', '<', cutoff.id);
      }
      removed += (await query.executeTakeFirst()).numDeletedRows;
    }
    // the files of what went (few rows: only executions that wrote some have any)
    if (removed > 0n)
      await this.db
        .deleteFrom('execution_files')
        .where((eb) =>
          eb.not(eb.exists(eb.selectFrom('executions').select('id').whereRef('executions.id', '=', 'execution_files.execution_id'))),
        )
        .execute();
    return Number(removed);
  }

  async recordFiles(project: string, executionId: string, files: { path: string; data: Buffer }[]): Promise<void> {
    if (!files.length) return;
    const rows = files.map((f) => ({
      execution_id: executionId,
      project,
      path: f.path,
      size: f.data.length,
      data: f.data.toString('base64'),
    }));
    await this.db
      .insertInto('execution_files')
      .values(rows)
      .onConflict((oc) => oc.columns(['execution_id', 'path']).doNothing())
      .execute();
  }

  async getFile(project: string, executionId: string, path: string): Promise<Buffer | null> {
    const row = await this.db
      .selectFrom('execution_files')
      .select('data')
      .where('project', '=', project)
      .where('execution_id', '=', executionId)
      .where('path', '=', path)
      .executeTakeFirst();
    return row ? Buffer.from(row.data, 'base64') : null;
  }
}
