import type { Kysely } from 'kysely';
import { pageSize, type Page } from '../page.js';
import { storable } from '../stored-text.js';
import type {
  BuildOutcome,
  BuildStatus,
  RuntimeLanguage,
  RuntimeRecord,
  RuntimeRevisionRecord,
  RuntimeStore,
  RuntimeWithHead,
} from './records.js';

/** The runtime tables (migration 0002 on) as Kysely sees them, and their mapping to records. */

export interface RuntimesTable {
  id: string;
  project: string;
  name: string;
  language: string;
  head_revision_id: string;
  created_at: string;
}

export interface RuntimeRevisionsTable {
  id: string;
  runtime_id: string;
  project: string;
  language: string;
  manifest_name: string;
  manifest_contents: string;
  additional_python_imports: string | null;
  image_key: string;
  status: string;
  failure_reason: string | null;
  /** Read only by getBuildLog: lists and lookups leave it out. */
  build_log: string;
  created_at: string;
  updated_at: string;
}

export interface RuntimeTables {
  runtimes: RuntimesTable;
  runtime_revisions: RuntimeRevisionsTable;
}

type RuntimeRevisionRow = Omit<RuntimeRevisionsTable, 'build_log'>;

/** The columns of a revision that records carry (every one but the build log). */
const REVISION_COLUMNS = [
  'id',
  'runtime_id',
  'project',
  'language',
  'manifest_name',
  'manifest_contents',
  'additional_python_imports',
  'image_key',
  'status',
  'failure_reason',
  'created_at',
  'updated_at',
] as const;

function runtimeRevisionToRow(r: RuntimeRevisionRecord): RuntimeRevisionsTable {
  return {
    id: r.id,
    runtime_id: r.runtimeId,
    project: r.project,
    language: r.language,
    manifest_name: r.manifestName,
    manifest_contents: r.manifestContents,
    additional_python_imports: r.additionalPythonImports,
    image_key: r.imageKey,
    status: r.status,
    failure_reason: r.failureReason,
    build_log: '',
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}

function rowToRuntimeRevision(row: RuntimeRevisionRow): RuntimeRevisionRecord {
  return {
    id: row.id,
    runtimeId: row.runtime_id,
    project: row.project,
    language: row.language as RuntimeLanguage,
    manifestName: row.manifest_name as RuntimeRevisionRecord['manifestName'],
    manifestContents: row.manifest_contents,
    additionalPythonImports: row.additional_python_imports,
    imageKey: row.image_key,
    status: row.status as BuildStatus,
    failureReason: row.failure_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function rowToRuntime(row: Omit<RuntimesTable, 'head_revision_id'>, head: RuntimeRevisionRecord): RuntimeWithHead {
  const runtime: RuntimeRecord = {
    id: row.id,
    project: row.project,
    name: row.name,
    language: row.language as RuntimeLanguage,
    createdAt: row.created_at,
  };
  return { ...runtime, head };
}

/** The RuntimeStore in portable SQL (SQLite and Postgres); every query but a build's is scoped by project. */
export class KyselyRuntimeStore implements RuntimeStore {
  constructor(private readonly db: Kysely<RuntimeTables>) {}

  async createRuntime(runtime: RuntimeRecord, revision: RuntimeRevisionRecord): Promise<RuntimeWithHead> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('runtimes')
        .values({
          id: runtime.id,
          project: runtime.project,
          name: runtime.name,
          language: runtime.language,
          head_revision_id: revision.id,
          created_at: runtime.createdAt,
        })
        .execute();
      await trx.insertInto('runtime_revisions').values(runtimeRevisionToRow(revision)).execute();
    });
    return { ...runtime, head: revision };
  }

  async addRuntimeRevision(revision: RuntimeRevisionRecord): Promise<RuntimeWithHead | null> {
    const row = await this.db.transaction().execute(async (trx) => {
      const moved = await trx
        .updateTable('runtimes')
        .set({ head_revision_id: revision.id })
        .where('project', '=', revision.project)
        .where('id', '=', revision.runtimeId)
        .returning(['id', 'project', 'name', 'language', 'created_at'])
        .executeTakeFirst();
      if (moved) await trx.insertInto('runtime_revisions').values(runtimeRevisionToRow(revision)).execute();
      return moved;
    });
    return row ? rowToRuntime(row, revision) : null;
  }

  async getRuntime(project: string, id: string): Promise<RuntimeWithHead | null> {
    const [runtime] = await this.withHeads(project, (q) => q.where('t.id', '=', id));
    return runtime ?? null;
  }

  async listRuntimes(project: string, page: Page): Promise<RuntimeWithHead[]> {
    return this.withHeads(project, (q) => {
      const ordered = q.orderBy('t.id', 'desc').limit(pageSize(page));
      return page.startingAfter === undefined ? ordered : ordered.where('t.id', '<', page.startingAfter);
    });
  }

  async getRuntimeRevision(project: string, revisionId: string): Promise<RuntimeRevisionRecord | null> {
    const row = await this.db
      .selectFrom('runtime_revisions')
      .select(REVISION_COLUMNS)
      .where('project', '=', project)
      .where('id', '=', revisionId)
      .executeTakeFirst();
    return row ? rowToRuntimeRevision(row) : null;
  }

  async listRuntimeRevisions(project: string, runtimeId: string, page: Page): Promise<RuntimeRevisionRecord[] | null> {
    const runtime = await this.db
      .selectFrom('runtimes')
      .select('id')
      .where('project', '=', project)
      .where('id', '=', runtimeId)
      .executeTakeFirst();
    if (!runtime) return null;
    let query = this.db
      .selectFrom('runtime_revisions')
      .select(REVISION_COLUMNS)
      .where('project', '=', project)
      .where('runtime_id', '=', runtimeId)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(rowToRuntimeRevision);
  }

  async deleteRuntime(project: string, id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('runtime_revisions').where('project', '=', project).where('runtime_id', '=', id).execute();
      const { numDeletedRows } = await trx.deleteFrom('runtimes').where('project', '=', project).where('id', '=', id).executeTakeFirst();
      return numDeletedRows > 0n;
    });
  }

  async getBuildLog(project: string, revisionId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('runtime_revisions')
      .select('build_log')
      .where('project', '=', project)
      .where('id', '=', revisionId)
      .executeTakeFirst();
    return row ? row.build_log : null;
  }

  async moveBuilds(imageKey: string, from: BuildStatus[], to: BuildStatus, at: string): Promise<number> {
    const { numUpdatedRows } = await this.db
      .updateTable('runtime_revisions')
      .set({ status: to, updated_at: at })
      .where('image_key', '=', imageKey)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(numUpdatedRows);
  }

  async finishBuilds(imageKey: string, outcome: BuildOutcome): Promise<number> {
    const { numUpdatedRows } = await this.db
      .updateTable('runtime_revisions')
      .set({
        status: outcome.status,
        failure_reason: outcome.failureReason === null ? null : storable(outcome.failureReason),
        build_log: storable(outcome.log),
        updated_at: outcome.at,
      })
      .where('image_key', '=', imageKey)
      .where('status', 'in', ['pending', 'building'])
      .executeTakeFirst();
    return Number(numUpdatedRows);
  }

  async buildsWithStatus(statuses: BuildStatus[]): Promise<RuntimeRevisionRecord[]> {
    const rows = await this.db
      .selectFrom('runtime_revisions')
      .select(REVISION_COLUMNS)
      .where('status', 'in', statuses)
      .orderBy('id', 'asc')
      .execute();
    const seen = new Set<string>();
    return rows.filter((r) => !seen.has(r.image_key) && seen.add(r.image_key)).map(rowToRuntimeRevision);
  }

  async hasSucceededBuild(imageKey: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('runtime_revisions')
      .select('id')
      .where('image_key', '=', imageKey)
      .where('status', '=', 'succeeded')
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async imageKeysInUse(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('runtime_revisions').select('image_key').distinct().execute();
    return new Set(rows.map((r) => r.image_key));
  }

  /** The project's runtimes joined to their head revision. */
  private async withHeads(
    project: string,
    shape: (q: ReturnType<KyselyRuntimeStore['headQuery']>) => ReturnType<KyselyRuntimeStore['headQuery']>,
  ): Promise<RuntimeWithHead[]> {
    const rows = await shape(this.headQuery(project)).execute();
    return rows.map((row) =>
      rowToRuntime(
        { id: row.rt_id, project: row.project, name: row.rt_name, language: row.language, created_at: row.rt_created_at },
        rowToRuntimeRevision(row),
      ),
    );
  }

  private headQuery(project: string) {
    return this.db
      .selectFrom('runtimes as t')
      .innerJoin('runtime_revisions as r', 'r.id', 't.head_revision_id')
      .select(REVISION_COLUMNS.map((c) => `r.${c}` as const))
      .select(['t.id as rt_id', 't.name as rt_name', 't.created_at as rt_created_at'])
      .where('t.project', '=', project);
  }
}
