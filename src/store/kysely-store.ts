import { sql, type Kysely } from 'kysely';
import {
  canonicalTimestamp,
  executionToRow,
  revisionToRow,
  rowToExecution,
  rowToRevision,
  rowToSecret,
  rowToTool,
  rowToToolSummary,
  type Database,
  type ToolRevisionsTable,
} from './rows.js';
import { KyselyInvocationStore } from './kysely-invocation-store.js';
import { KyselyC1Store } from './kysely-c1-store.js';
import type { C1Store } from './c1-store.js';
import { KyselyFunctionStore, type FunctionStore } from './function-store.js';
import type { InvocationStore } from './invocation-store.js';
import { KyselyRuntimeStore } from './kysely-runtime-store.js';
import { refuseNulText } from './stored-text.js';
import type { RuntimeStore } from './runtime-store.js';
import {
  pageSize,
  type ExecutionRecord,
  type Page,
  type SealedSecret,
  type SecretRecord,
  type Store,
  type Tool,
  type ToolRevision,
  type ToolSummary,
} from './store.js';

/**
 * The Store over Kysely, in SQL that SQLite and Postgres both accept: the dialect-specific part
 * (opening, PRAGMAs, pools) lives in the file that builds the Kysely instance. Every statement
 * filters by project, so another project's object reads as missing.
 */
export class KyselyStore implements Store {
  readonly runtimes: RuntimeStore;
  readonly invocations: InvocationStore;
  readonly c1: C1Store;
  readonly functions: FunctionStore;
  private readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    // one rule for text in both databases (see stored-text.ts), for every entity's queries
    this.db = db.withPlugin(refuseNulText);
    db = this.db;
    this.functions = new KyselyFunctionStore(db);
    this.runtimes = new KyselyRuntimeStore(db);
    this.invocations = new KyselyInvocationStore(db);
    this.c1 = new KyselyC1Store(db);
  }

  async createTool(revision: ToolRevision): Promise<Tool> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('tools')
        .values({ id: revision.toolId, project: revision.project, head_revision_id: revision.id, created_at: revision.createdAt })
        .execute();
      await trx.insertInto('tool_revisions').values(revisionToRow(revision)).execute();
    });
    const { id: revisionId, ...rest } = revision;
    return { ...rest, id: revision.toolId, revisionId };
  }

  async addToolRevision(revision: ToolRevision, expectedHeadId?: string): Promise<Tool | null> {
    const tool = await this.db.transaction().execute(async (trx) => {
      let update = trx
        .updateTable('tools')
        .set({ head_revision_id: revision.id })
        .where('project', '=', revision.project)
        .where('id', '=', revision.toolId);
      // compare-and-set: an update built on a head another writer has since moved writes nothing
      if (expectedHeadId !== undefined) update = update.where('head_revision_id', '=', expectedHeadId);
      const moved = await update.returning('created_at').executeTakeFirst();
      if (moved) await trx.insertInto('tool_revisions').values(revisionToRow(revision)).execute();
      return moved;
    });
    if (!tool) return null;
    const { id: revisionId, ...rest } = revision;
    return { ...rest, id: revision.toolId, revisionId, createdAt: tool.created_at };
  }

  async getTool(project: string, toolId: string): Promise<Tool | null> {
    const row = await this.toolsWithHead(project, [...LISTED_COLUMNS, 'r.files'])
      .where('t.id', '=', toolId)
      .executeTakeFirst();
    return row ? rowToTool(row) : null;
  }

  async getToolRevision(project: string, toolId: string, revisionId: string): Promise<ToolRevision | null> {
    const row = await this.db
      .selectFrom('tool_revisions')
      .selectAll()
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .where('id', '=', revisionId)
      .executeTakeFirst();
    return row ? rowToRevision(row) : null;
  }

  async listTools(project: string, page: Page): Promise<Tool[]> {
    let query = this.toolsWithHead(project, LISTED_COLUMNS).orderBy('t.id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('t.id', '<', page.startingAfter);
    return (await query.execute()).map((row) => rowToTool({ ...row, files: null }));
  }

  async listToolSummaries(project: string, page: Page): Promise<ToolSummary[]> {
    let query = this.toolsWithHead(project, SUMMARY_COLUMNS).orderBy('t.id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('t.id', '<', page.startingAfter);
    return (await query.execute()).map(rowToToolSummary);
  }

  async findToolByName(project: string, name: string): Promise<ToolSummary | null> {
    // r.project and r.name first: the (project, name) index narrows the join to this name's revisions
    const row = await this.toolsWithHead(project, SUMMARY_COLUMNS)
      .where('r.project', '=', project)
      .where('r.name', '=', name)
      .orderBy('t.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? rowToToolSummary(row) : null;
  }

  async toolSummaries(project: string, ids: string[]): Promise<ToolSummary[]> {
    if (ids.length === 0) return []; // `in ()` is not valid SQL
    const rows = await this.toolsWithHead(project, SUMMARY_COLUMNS)
      .where('t.id', 'in', [...new Set(ids)])
      .orderBy('t.id', 'desc')
      .execute();
    return rows.map(rowToToolSummary);
  }

  async listToolRevisions(project: string, toolId: string, page: Page): Promise<ToolRevision[] | null> {
    const tool = await this.db.selectFrom('tools').select('id').where('project', '=', project).where('id', '=', toolId).executeTakeFirst();
    if (!tool) return null;
    // the listing shows each revision's code, never its other files
    let query = this.db
      .selectFrom('tool_revisions as r')
      .select(LISTED_COLUMNS)
      .where('r.project', '=', project)
      .where('r.tool_id', '=', toolId)
      .orderBy('r.id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('r.id', '<', page.startingAfter);
    return (await query.execute()).map((row) => rowToRevision({ ...row, files: null }));
  }

  async listToolRevisionStamps(project: string, toolId: string, page: Page): Promise<{ id: string; createdAt: string }[] | null> {
    if (!(await this.db.selectFrom('tools').select('id').where('project', '=', project).where('id', '=', toolId).executeTakeFirst()))
      return null;
    let query = this.db
      .selectFrom('tool_revisions')
      .select(['id', 'created_at'])
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map((r) => ({ id: r.id, createdAt: r.created_at }));
  }

  async deleteTool(project: string, toolId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Revisions first: they hold the foreign key to the tool row.
      await trx.deleteFrom('tool_revisions').where('project', '=', project).where('tool_id', '=', toolId).execute();
      const { numDeletedRows } = await trx.deleteFrom('tools').where('project', '=', project).where('id', '=', toolId).executeTakeFirst();
      return numDeletedRows > 0n;
    });
  }

  async createSecret(secret: SealedSecret): Promise<SecretRecord> {
    await this.db
      .insertInto('secrets')
      .values({
        id: secret.id,
        project: secret.project,
        name: secret.name,
        sealed: secret.sealed,
        created_at: secret.createdAt,
        updated_at: secret.updatedAt,
      })
      .execute();
    return { id: secret.id, project: secret.project, name: secret.name, createdAt: secret.createdAt, updatedAt: secret.updatedAt };
  }

  async listSecrets(project: string, page: Page): Promise<SecretRecord[]> {
    // The sealed column is not selected: a listing has no business carrying it around.
    let query = this.db
      .selectFrom('secrets')
      .select(['id', 'project', 'name', 'created_at', 'updated_at'])
      .where('project', '=', project)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(rowToSecret);
  }

  async getSecrets(project: string, ids: string[]): Promise<SealedSecret[]> {
    if (ids.length === 0) return []; // `in ()` is not valid SQL
    const rows = await this.db
      .selectFrom('secrets')
      .selectAll()
      .where('project', '=', project)
      .where('id', 'in', [...new Set(ids)])
      .orderBy('id')
      .execute();
    return rows.map((row) => ({ ...rowToSecret(row), sealed: row.sealed }));
  }

  async updateSecret(project: string, id: string, sealed: string, updatedAt: string): Promise<SecretRecord | null> {
    const row = await this.db
      .updateTable('secrets')
      .set({ sealed, updated_at: updatedAt })
      .where('project', '=', project)
      .where('id', '=', id)
      .returning(['id', 'project', 'name', 'created_at', 'updated_at'])
      .executeTakeFirst();
    return row ? rowToSecret(row) : null;
  }

  async deleteSecret(project: string, id: string): Promise<boolean> {
    const { numDeletedRows } = await this.db.deleteFrom('secrets').where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return numDeletedRows > 0n;
  }

  async recordExecution(record: ExecutionRecord): Promise<void> {
    // idempotent: a retry of a write whose answer was lost (the database away) finds it written
    await this.db
      .insertInto('executions')
      .values(executionToRow(record))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async getExecution(project: string, id: string): Promise<ExecutionRecord | null> {
    const row = await this.db.selectFrom('executions').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return row ? rowToExecution(row) : null;
  }

  async listExecutions(project: string, page: Page & { onlyNonZeroExitCodes?: boolean }): Promise<ExecutionRecord[]> {
    let query = this.db.selectFrom('executions').selectAll().where('project', '=', project).orderBy('id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    // A literal 0, not a bound parameter: the planner matches this against the partial index's
    // own `exit_code <> 0` (see migrations.ts), which it cannot do through a parameter.
    if (page.onlyNonZeroExitCodes) query = query.where(sql<boolean>`exit_code <> 0`);
    return (await query.execute()).map(rowToExecution);
  }

  async pruneExecutions({
    olderThan,
    keepPerProject,
    keep: own,
  }: {
    olderThan: string;
    keepPerProject: number;
    keep?: Readonly<Record<string, number>>;
  }): Promise<number> {
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
    return Number(removed);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** The project's tools joined to their head revision, in the given columns of the revision. */
  private toolsWithHead<C extends RevisionColumn>(project: string, columns: readonly C[]) {
    return this.db
      .selectFrom('tools as t')
      .innerJoin('tool_revisions as r', 'r.id', 't.head_revision_id')
      .select(columns)
      .select('t.created_at as tool_created_at')
      .where('t.project', '=', project);
  }
}

type RevisionColumn = `r.${keyof ToolRevisionsTable}`;
/** What a tool's summary is read from: never its code or files, which can be megabytes. */
const SUMMARY_COLUMNS = [
  'r.id',
  'r.tool_id',
  'r.project',
  'r.name',
  'r.description',
  'r.language',
  'r.input_schema',
  'r.runtime_revision_id',
  'r.env',
  'r.http',
  'r.entry',
  'r.created_at',
] as const satisfies readonly RevisionColumn[];
/** What Riza's listing shows: the summary and the code (never the other files). */
const LISTED_COLUMNS = [...SUMMARY_COLUMNS, 'r.code'] as const satisfies readonly RevisionColumn[];
