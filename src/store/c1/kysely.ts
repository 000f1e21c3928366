import type { Kysely } from 'kysely';
import { pageSize, type Page } from '../page.js';
import type { AddUpload, C1CommitRecord, C1FunctionRecord, C1InvocationRecord, C1Store, PendingCommit } from './records.js';

/** The ConductorOne tables (migration 0006 on) as Kysely sees them, and their mapping to records. */

export interface C1FunctionsTable {
  tool_id: string;
  project: string;
  function_type: string;
  published_commit_id: string | null;
  created_at: string;
  updated_at: string;
}
export interface C1CommitsTable {
  id: string;
  function_id: string;
  project: string;
  message: string;
  filenames: string; // JSON
  finalized: number;
  created_at: string;
}
export interface C1UploadsTable {
  commit_id: string;
  filename: string;
  contents: string;
  /** UTF-8 bytes of contents: a commit's total is summed without reading any file. */
  bytes: number;
}
export interface C1InvocationsTable {
  id: string;
  function_id: string;
  project: string;
  commit_id: string;
  input: string; // JSON
  created_at: string;
}

export interface C1Tables {
  c1_functions: C1FunctionsTable;
  c1_commits: C1CommitsTable;
  c1_uploads: C1UploadsTable;
  c1_invocations: C1InvocationsTable;
}

const toFunction = (r: C1FunctionsTable): C1FunctionRecord => ({
  toolId: r.tool_id,
  project: r.project,
  functionType: r.function_type,
  publishedCommitId: r.published_commit_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
const toInvocation = (r: C1InvocationsTable): C1InvocationRecord => ({
  id: r.id,
  functionId: r.function_id,
  project: r.project,
  commitId: r.commit_id,
  input: JSON.parse(r.input) as unknown,
  createdAt: r.created_at,
});

/** The C1Store in portable SQL (SQLite and Postgres); every query is scoped by project. */
export class KyselyC1Store implements C1Store {
  constructor(private readonly db: Kysely<C1Tables>) {}

  async putFunction(r: C1FunctionRecord): Promise<void> {
    await this.db
      .insertInto('c1_functions')
      .values({
        tool_id: r.toolId,
        project: r.project,
        function_type: r.functionType,
        published_commit_id: r.publishedCommitId,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      })
      .execute();
  }

  async getFunction(project: string, toolId: string): Promise<C1FunctionRecord | null> {
    const row = await this.db
      .selectFrom('c1_functions')
      .selectAll()
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .executeTakeFirst();
    return row ? toFunction(row) : null;
  }

  async listFunctions(project: string, page: Page): Promise<C1FunctionRecord[]> {
    let query = this.db.selectFrom('c1_functions').selectAll().where('project', '=', project);
    if (page.startingAfter) query = query.where('tool_id', '<', page.startingAfter);
    return (await query.orderBy('tool_id', 'desc').limit(pageSize(page)).execute()).map(toFunction);
  }

  async setPublished(project: string, toolId: string, commitId: string | null, at: string): Promise<void> {
    await this.db
      .updateTable('c1_functions')
      .set({ published_commit_id: commitId, updated_at: at })
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .execute();
  }

  async touchFunction(project: string, toolId: string, at: string): Promise<void> {
    await this.db
      .updateTable('c1_functions')
      .set({ updated_at: at })
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .execute();
  }

  async deleteFunction(project: string, toolId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const commits = trx.selectFrom('c1_commits').select('id').where('project', '=', project).where('function_id', '=', toolId);
      await trx.deleteFrom('c1_uploads').where('commit_id', 'in', commits).execute();
      await trx.deleteFrom('c1_commits').where('project', '=', project).where('function_id', '=', toolId).execute();
      await trx.deleteFrom('c1_functions').where('project', '=', project).where('tool_id', '=', toolId).execute();
      // its invocations stay, as a tool's executions do
    });
  }

  async putCommit(r: C1CommitRecord): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('c1_commits')
        .values({
          id: r.id,
          function_id: r.functionId,
          project: r.project,
          message: r.message,
          filenames: JSON.stringify(r.filenames),
          finalized: r.finalized ? 1 : 0,
          created_at: r.createdAt,
        })
        .execute();
      for (const [filename, contents] of Object.entries(r.uploads))
        await trx
          .insertInto('c1_uploads')
          .values({ commit_id: r.id, filename, contents, bytes: Buffer.byteLength(contents) })
          .execute();
    });
  }

  async getCommit(project: string, functionId: string, id: string): Promise<C1CommitRecord | null> {
    const row = await this.db
      .selectFrom('c1_commits')
      .selectAll()
      .where('project', '=', project)
      .where('function_id', '=', functionId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    const uploads = await this.db.selectFrom('c1_uploads').select(['filename', 'contents']).where('commit_id', '=', id).execute();
    return {
      id: row.id,
      functionId: row.function_id,
      project: row.project,
      message: row.message,
      filenames: JSON.parse(row.filenames) as string[],
      uploads: Object.fromEntries(uploads.map((u) => [u.filename, u.contents])),
      finalized: Number(row.finalized) === 1,
      createdAt: row.created_at,
    };
  }

  async pendingCommit(project: string, id: string): Promise<PendingCommit | null> {
    const row = await this.db
      .selectFrom('c1_commits')
      .select(['id', 'function_id', 'filenames'])
      .where('project', '=', project)
      .where('id', '=', id)
      .where('finalized', '=', 0)
      .executeTakeFirst();
    return row ? { id: row.id, functionId: row.function_id, filenames: JSON.parse(row.filenames) as string[] } : null;
  }

  async addUpload(project: string, id: string, filename: string, contents: string, maxCommitBytes: number): Promise<AddUpload> {
    const bytes = Buffer.byteLength(contents);
    return this.db.transaction().execute(async (trx) => {
      // a write to the commit's row first: PostgreSQL locks the row (SQLite the database), so two
      // uploads of one commit at once take turns, and neither sums before the other has written
      const pending = await trx
        .updateTable('c1_commits')
        .set({ finalized: 0 })
        .where('project', '=', project)
        .where('id', '=', id)
        .where('finalized', '=', 0)
        .executeTakeFirst();
      if (Number(pending.numUpdatedRows) !== 1) return 'missing';
      const { total } = await trx
        .selectFrom('c1_uploads')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('bytes'), eb.lit(0)).as('total'))
        .where('commit_id', '=', id)
        .where('filename', '<>', filename)
        .executeTakeFirstOrThrow();
      if (Number(total) + bytes > maxCommitBytes) return 'too_large';
      await trx
        .insertInto('c1_uploads')
        .values({ commit_id: id, filename, contents, bytes })
        .onConflict((oc) => oc.columns(['commit_id', 'filename']).doUpdateSet({ contents, bytes }))
        .execute();
      return 'added';
    });
  }

  async prunePendingCommits(project: string, functionId: string, keep: number): Promise<number> {
    const stale = await this.db
      .selectFrom('c1_commits')
      .select('id')
      .where('project', '=', project)
      .where('function_id', '=', functionId)
      .where('finalized', '=', 0)
      .orderBy('id', 'desc')
      .offset(keep)
      .limit(1000)
      .execute();
    if (stale.length === 0) return 0;
    const ids = stale.map((r) => r.id);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('c1_uploads').where('commit_id', 'in', ids).execute();
      await trx.deleteFrom('c1_commits').where('project', '=', project).where('id', 'in', ids).where('finalized', '=', 0).execute();
    });
    return ids.length;
  }

  async markFinalized(project: string, id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('c1_commits')
      .set({ finalized: 1 })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('finalized', '=', 0)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return false;
    // the revision holds the files now
    await this.db.deleteFrom('c1_uploads').where('commit_id', '=', id).execute();
    return true;
  }

  async putInvocation(r: C1InvocationRecord): Promise<void> {
    await this.db
      .insertInto('c1_invocations')
      .values({
        id: r.id,
        function_id: r.functionId,
        project: r.project,
        commit_id: r.commitId,
        input: JSON.stringify(r.input ?? null),
        created_at: r.createdAt,
      })
      .execute();
  }

  async getInvocation(project: string, functionId: string, id: string): Promise<C1InvocationRecord | null> {
    const row = await this.db
      .selectFrom('c1_invocations')
      .selectAll()
      .where('project', '=', project)
      .where('function_id', '=', functionId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toInvocation(row) : null;
  }

  async listInvocations(project: string, functionId: string, page: Page): Promise<C1InvocationRecord[]> {
    let query = this.db.selectFrom('c1_invocations').selectAll().where('project', '=', project).where('function_id', '=', functionId);
    if (page.startingAfter) query = query.where('id', '<', page.startingAfter);
    return (await query.orderBy('id', 'desc').limit(pageSize(page)).execute()).map(toInvocation);
  }
}
