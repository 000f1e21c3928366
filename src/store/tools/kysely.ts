import type { Kysely } from 'kysely';
import type { AllowBinding, EnvBinding } from '../../model/bindings.js';
import { pageSize, toJson, type Page } from '../page.js';
import type { Tool, ToolRevision, ToolStore, ToolSummary } from './records.js';

/** The tool tables (migration 0001 on) as Kysely sees them, and their mapping to records. */

export interface ToolsTable {
  id: string;
  project: string;
  head_revision_id: string;
  created_at: string;
}

export interface ToolRevisionsTable {
  id: string;
  tool_id: string;
  project: string;
  name: string;
  description: string;
  language: string;
  code: string;
  input_schema: string; // JSON
  runtime_revision_id: string | null;
  env: string; // JSON
  http: string | null; // JSON
  files: string | null; // JSON
  entry: string | null;
  created_at: string;
}

export interface ToolTables {
  tools: ToolsTable;
  tool_revisions: ToolRevisionsTable;
}

function revisionToRow(r: ToolRevision): ToolRevisionsTable {
  return {
    id: r.id,
    tool_id: r.toolId,
    project: r.project,
    name: r.name,
    description: r.description,
    language: r.language,
    code: r.code,
    input_schema: toJson(r.inputSchema),
    runtime_revision_id: r.runtimeRevisionId,
    env: toJson(r.env),
    http: r.http === null ? null : toJson(r.http),
    files: r.files?.length ? toJson(r.files) : null,
    entry: r.entry === 'default' ? 'default' : null,
    created_at: r.createdAt,
  };
}

function rowToRevision(row: ToolRevisionsTable): ToolRevision {
  return {
    id: row.id,
    toolId: row.tool_id,
    project: row.project,
    name: row.name,
    description: row.description,
    language: row.language,
    code: row.code,
    inputSchema: JSON.parse(row.input_schema) as unknown,
    runtimeRevisionId: row.runtime_revision_id,
    env: JSON.parse(row.env) as EnvBinding[],
    http: row.http === null ? null : (JSON.parse(row.http) as { allow: AllowBinding[] }),
    // absent rather than empty: most tools have neither
    ...(row.files ? { files: JSON.parse(row.files) as { path: string; contents: string }[] } : {}),
    ...(row.entry === 'default' ? { entry: 'default' as const } : {}),
    createdAt: row.created_at,
  };
}

/** A tool is its head revision under the tool's id; createdAt is when the tool itself was created. */
function rowToTool(row: ToolRevisionsTable & { tool_created_at: string }): Tool {
  const { id: revisionId, ...revision } = rowToRevision(row);
  return { ...revision, id: row.tool_id, revisionId, createdAt: row.tool_created_at };
}

/** A tool's summary from its head revision's columns without code and files. */
function rowToToolSummary(row: Omit<ToolRevisionsTable, 'code' | 'files'> & { tool_created_at: string }): ToolSummary {
  const { code: _c, files: _f, ...summary } = rowToTool({ ...row, code: '', files: null });
  return summary;
}

/** The ToolStore in portable SQL (SQLite and Postgres); every query is scoped by project. */
export class KyselyToolStore implements ToolStore {
  constructor(private readonly db: Kysely<ToolTables>) {}

  async create(revision: ToolRevision): Promise<Tool> {
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

  async addRevision(revision: ToolRevision, expectedHeadId?: string): Promise<Tool | null> {
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

  async get(project: string, toolId: string): Promise<Tool | null> {
    const row = await this.withHead(project, [...LISTED_COLUMNS, 'r.files'])
      .where('t.id', '=', toolId)
      .executeTakeFirst();
    return row ? rowToTool(row) : null;
  }

  async getRevision(project: string, toolId: string, revisionId: string): Promise<ToolRevision | null> {
    const row = await this.db
      .selectFrom('tool_revisions')
      .selectAll()
      .where('project', '=', project)
      .where('tool_id', '=', toolId)
      .where('id', '=', revisionId)
      .executeTakeFirst();
    return row ? rowToRevision(row) : null;
  }

  async list(project: string, page: Page): Promise<Tool[]> {
    let query = this.withHead(project, LISTED_COLUMNS).orderBy('t.id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('t.id', '<', page.startingAfter);
    return (await query.execute()).map((row) => rowToTool({ ...row, files: null }));
  }

  async listSummaries(project: string, page: Page): Promise<ToolSummary[]> {
    let query = this.withHead(project, SUMMARY_COLUMNS).orderBy('t.id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('t.id', '<', page.startingAfter);
    return (await query.execute()).map(rowToToolSummary);
  }

  async findByName(project: string, name: string): Promise<ToolSummary | null> {
    // r.project and r.name first: the (project, name) index narrows the join to this name's revisions
    const row = await this.withHead(project, SUMMARY_COLUMNS)
      .where('r.project', '=', project)
      .where('r.name', '=', name)
      .orderBy('t.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? rowToToolSummary(row) : null;
  }

  async summaries(project: string, ids: string[]): Promise<ToolSummary[]> {
    if (ids.length === 0) return []; // `in ()` is not valid SQL
    const rows = await this.withHead(project, SUMMARY_COLUMNS)
      .where('t.id', 'in', [...new Set(ids)])
      .orderBy('t.id', 'desc')
      .execute();
    return rows.map(rowToToolSummary);
  }

  async listRevisions(project: string, toolId: string, page: Page): Promise<ToolRevision[] | null> {
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

  async listRevisionStamps(project: string, toolId: string, page: Page): Promise<{ id: string; createdAt: string }[] | null> {
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

  async delete(project: string, toolId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Revisions first: they hold the foreign key to the tool row.
      await trx.deleteFrom('tool_revisions').where('project', '=', project).where('tool_id', '=', toolId).execute();
      const { numDeletedRows } = await trx.deleteFrom('tools').where('project', '=', project).where('id', '=', toolId).executeTakeFirst();
      return numDeletedRows > 0n;
    });
  }

  /** The project's tools joined to their head revision, in the given columns of the revision. */
  private withHead<C extends RevisionColumn>(project: string, columns: readonly C[]) {
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
