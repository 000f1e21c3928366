import type { AllowBinding, EnvBinding } from '../model/bindings.js';
import type { InvocationsTable, ReplicasTable, WebhookSecretsTable } from './invocation-rows.js';
import type { IiiFunctionsTable } from './function-store.js';
import type { C1CommitsTable, C1FunctionsTable, C1InvocationsTable, C1UploadsTable } from './kysely-c1-store.js';
import type { RuntimeRevisionsTable, RuntimesTable } from './runtime-rows.js';
import type { ExecutionKind, ExecutionRecord, ExecutionVia, SecretRecord, Tool, ToolRevision, ToolSummary } from './store.js';

/**
 * The tables as the Kysely queries see them (created by ./migrations.ts), and the mapping between
 * rows and the Store's records. Only portable column types: JSON is TEXT written with
 * JSON.stringify, timestamps are RFC 3339 TEXT, so SQLite and Postgres share this file.
 */

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

export interface SecretsTable {
  id: string;
  project: string;
  name: string;
  sealed: string;
  created_at: string;
  updated_at: string;
}

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
  request: string; // JSON
  result: string; // JSON
}

export interface Database {
  tools: ToolsTable;
  tool_revisions: ToolRevisionsTable;
  secrets: SecretsTable;
  executions: ExecutionsTable;
  runtimes: RuntimesTable;
  runtime_revisions: RuntimeRevisionsTable;
  invocations: InvocationsTable;
  webhook_secrets: WebhookSecretsTable;
  c1_functions: C1FunctionsTable;
  c1_commits: C1CommitsTable;
  c1_uploads: C1UploadsTable;
  c1_invocations: C1InvocationsTable;
  iii_functions: IiiFunctionsTable;
  replicas: ReplicasTable;
}

// `?? null`: JSON.stringify(undefined) is undefined, which a NOT NULL column would refuse.
const toJson = (value: unknown): string => JSON.stringify(value ?? null);

/**
 * started_at is compared as text (retention), which orders correctly only when every value has
 * one shape; Date#toISOString gives it (UTC, milliseconds, `Z`) whatever offset the caller used.
 */
export function canonicalTimestamp(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 timestamp: ${JSON.stringify(value)}`);
  return new Date(ms).toISOString();
}

export function revisionToRow(r: ToolRevision): ToolRevisionsTable {
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

export function rowToRevision(row: ToolRevisionsTable): ToolRevision {
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
export function rowToTool(row: ToolRevisionsTable & { tool_created_at: string }): Tool {
  const { id: revisionId, ...revision } = rowToRevision(row);
  return { ...revision, id: row.tool_id, revisionId, createdAt: row.tool_created_at };
}

/** A tool's summary from its head revision's columns without code and files. */
export function rowToToolSummary(row: Omit<ToolRevisionsTable, 'code' | 'files'> & { tool_created_at: string }): ToolSummary {
  const { code: _c, files: _f, ...summary } = rowToTool({ ...row, code: '', files: null });
  return summary;
}

export function rowToSecret(row: Omit<SecretsTable, 'sealed'>): SecretRecord {
  return { id: row.id, project: row.project, name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}

export function executionToRow(e: ExecutionRecord): ExecutionsTable {
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
    request: toJson(e.request),
    result: toJson(e.result),
  };
}

export function rowToExecution(row: ExecutionsTable): ExecutionRecord {
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
    request: JSON.parse(row.request) as unknown,
    result: JSON.parse(row.result) as unknown,
  };
}
