import type { BuildStatus, RuntimeLanguage, RuntimeRecord, RuntimeRevisionRecord, RuntimeWithHead } from './runtime-store.js';

/** The runtime tables (migration 0002) as Kysely sees them, and their mapping to records. */

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

export type RuntimeRevisionRow = Omit<RuntimeRevisionsTable, 'build_log'>;

/** The columns of a revision that records carry (every one but the build log). */
export const REVISION_COLUMNS = [
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

export function runtimeRevisionToRow(r: RuntimeRevisionRecord): RuntimeRevisionsTable {
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

export function rowToRuntimeRevision(row: RuntimeRevisionRow): RuntimeRevisionRecord {
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

export function rowToRuntime(row: Omit<RuntimesTable, 'head_revision_id'>, head: RuntimeRevisionRecord): RuntimeWithHead {
  const runtime: RuntimeRecord = {
    id: row.id,
    project: row.project,
    name: row.name,
    language: row.language as RuntimeLanguage,
    createdAt: row.created_at,
  };
  return { ...runtime, head };
}
