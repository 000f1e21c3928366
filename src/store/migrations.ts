import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * The schema's history, in code so that it ships inside the build (no migrations folder to find
 * at run time). Shared by every Store dialect: only Kysely's schema builder and portable types
 * (text, integer), nothing a given engine alone understands. Append new entries; never edit one
 * that has shipped, since databases in the field have already recorded it as applied.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    // Kysely<any>, as Kysely advises: a migration must not depend on today's table types.
    async up(db: Kysely<any>) {
      // A tool points at its newest revision. No foreign key from head_revision_id: the two rows
      // point at each other, and the tool row has to exist first.
      await db.schema
        .createTable('tools')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('head_revision_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tools_project_id').on('tools').columns(['project', 'id']).execute();

      await db.schema
        .createTable('tool_revisions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tool_id', 'text', (c) => c.notNull().references('tools.id'))
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('input_schema', 'text', (c) => c.notNull())
        .addColumn('runtime_revision_id', 'text')
        .addColumn('env', 'text', (c) => c.notNull())
        .addColumn('http', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tool_revisions_tool_id').on('tool_revisions').columns(['tool_id', 'id']).execute();

      await db.schema
        .createTable('secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('secrets_project_id').on('secrets').columns(['project', 'id']).execute();

      await db.schema
        .createTable('executions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('tool_id', 'text')
        .addColumn('revision_id', 'text')
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('executions_project_id').on('executions').columns(['project', 'id']).execute();
      // Partial (SQLite and Postgres both have them): failures are few, so "only non-zero exit
      // codes" pages through a small index in id order instead of filtering the whole project.
      // Queries must spell the same predicate, `exit_code <> 0`, for a planner to pick it.
      await db.schema
        .createIndex('executions_project_failed_id')
        .on('executions')
        .columns(['project', 'id'])
        .where(sql.ref('exit_code'), '<>', sql.lit(0))
        .execute();
      await db.schema.createIndex('executions_started_at').on('executions').column('started_at').execute();
    },
  },
  '0002_runtimes': {
    // Custom runtimes (issue 10). A revision names its image by a content hash (image_key): builds
    // are found and finished by it, across projects, hence its index.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('runtimes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('head_revision_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runtimes_project_id').on('runtimes').columns(['project', 'id']).execute();
      await db.schema
        .createTable('runtime_revisions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('runtime_id', 'text', (c) => c.notNull().references('runtimes.id'))
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('manifest_name', 'text', (c) => c.notNull())
        .addColumn('manifest_contents', 'text', (c) => c.notNull())
        .addColumn('additional_python_imports', 'text')
        .addColumn('image_key', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('failure_reason', 'text')
        .addColumn('build_log', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runtime_revisions_runtime_id').on('runtime_revisions').columns(['runtime_id', 'id']).execute();
      await db.schema.createIndex('runtime_revisions_image_key').on('runtime_revisions').columns(['image_key', 'status']).execute();
    },
  },
  '0003_execution_via': {
    // The surface an execution came through (issue 11 on): 'api' for every row logged before.
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('executions')
        .addColumn('via', 'text', (c) => c.notNull().defaultTo('api'))
        .execute();
    },
  },
  '0004_invocations': {
    // Async invocations (issue 12): the queue's durable half. Claimed by status and id (oldest
    // first); webhooks found by status and due time.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('invocations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('via', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('sealed_request', 'text')
        .addColumn('callback_url', 'text')
        .addColumn('owner', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('webhook_status', 'text')
        .addColumn('webhook_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('webhook_next_at', 'text')
        .addColumn('webhook_last_error', 'text')
        .addColumn('webhook_first_at', 'text')
        .execute();
      await db.schema.createIndex('invocations_status_id').on('invocations').columns(['status', 'id']).execute();
      await db.schema.createIndex('invocations_project_id').on('invocations').columns(['project', 'id']).execute();
      await db.schema.createIndex('invocations_webhook_due').on('invocations').columns(['webhook_status', 'webhook_next_at']).execute();
      await db.schema
        .createTable('webhook_secrets')
        .addColumn('project', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('previous_sealed', 'text')
        .addColumn('rotated_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0005_tool_files': {
    // A tool made of several files with another entry point (a ConductorOne function, issue 12):
    // the files besides its code, and which function of the module it calls.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tool_revisions').addColumn('files', 'text').execute();
      await db.schema.alterTable('tool_revisions').addColumn('entry', 'text').execute();
    },
  },
  '0006_c1_functions': {
    // ConductorOne's Functions API (issue 12) over tools: what C1 has that a tool has not. A
    // function is a tool (same id); a commit is a tool revision (same id) once finalized, and
    // until then a set of uploads; an invocation is an async execution (same id) with its input.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('c1_functions')
        .addColumn('tool_id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('function_type', 'text', (c) => c.notNull())
        .addColumn('published_commit_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('c1_functions_project').on('c1_functions').columns(['project', 'tool_id']).execute();
      await db.schema
        .createTable('c1_commits')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function_id', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('filenames', 'text', (c) => c.notNull())
        .addColumn('finalized', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('c1_commits_function').on('c1_commits').columns(['function_id', 'id']).execute();
      // one row per uploaded file: uploads of one commit in parallel never overwrite each other
      await db.schema
        .createTable('c1_uploads')
        .addColumn('commit_id', 'text', (c) => c.notNull())
        .addColumn('filename', 'text', (c) => c.notNull())
        .addColumn('contents', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('c1_uploads_pk', ['commit_id', 'filename'])
        .execute();
      await db.schema
        .createTable('c1_invocations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('function_id', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('commit_id', 'text', (c) => c.notNull())
        .addColumn('input', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('c1_invocations_function').on('c1_invocations').columns(['function_id', 'id']).execute();
    },
  },
  '0007_iii_functions': {
    // Functions registered the iii engine's way (issue 13): an id of the project's choosing, and
    // how to call it (an HTTP endpoint with its auth, the secret resolved to its id at registration).
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('iii_functions')
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iii_functions_pk', ['project', 'id'])
        .execute();
    },
  },
  '0008_replicas': {
    // Several kilns on one database (issue 14). Each says it is alive here every few seconds: what
    // a kiln that stopped saying so left running ends `interrupted`, by whichever kiln sees it
    // first. A cancel of a running invocation is written on its row, for the kiln running it.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('replicas')
        .addColumn('owner', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('invocations').addColumn('cancel_requested_at', 'text').execute();
      await db.schema.createIndex('invocations_owner_status').on('invocations').columns(['owner', 'status']).execute();
    },
  },
  '0009_bounds': {
    // Hardening (issue 20): a C1 upload's size kept beside it, so a commit's total is summed without
    // reading its files; and tools found by name (MCP, iii's kiln::) through an index rather than
    // a scan of every revision's code.
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('c1_uploads')
        .addColumn('bytes', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('tool_revisions_name').on('tool_revisions').columns(['project', 'name']).execute();
    },
  },
  '0010_sessions': {
    // Sessions (issue 23): a box kept across calls, and each session call in the executions log.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('runtime_revision_id', 'text')
        .addColumn('memory_mib', 'integer', (c) => c.notNull())
        .addColumn('idle_timeout_seconds', 'integer', (c) => c.notNull())
        .addColumn('max_lifetime_seconds', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('end_reason', 'text')
        .addColumn('end_detail', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_active_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('settings', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_project_id').on('sessions').columns(['project', 'id']).execute();
      await db.schema.createIndex('sessions_status').on('sessions').columns(['status']).execute();
      await db.schema.alterTable('executions').addColumn('session_id', 'text').execute();
    },
  },
  '0011_session_checkpoints': {
    // Sessions survive a restart (issue 23): the create request sealed (its env and credentials are
    // secret), the address of the replica that holds the box, and the workspace's checkpoint: a tar,
    // gzipped, cut into chunks that are each sealed (base64 text, portable; never a whole tar in one
    // value), of one generation that the session row points at once all of it is written.
    async up(db: Kysely<any>) {
      for (const [name, type, fallback] of [
        ['spec', 'text', null],
        ['owner_url', 'text', null],
        ['restored', 'integer', 0],
        ['checkpoint_generation', 'integer', 0],
        ['checkpoint_chunks', 'integer', 0],
        ['checkpoint_bytes', 'integer', 0],
        ['checkpointed_at', 'text', null],
      ] as const)
        await db.schema
          .alterTable('sessions')
          .addColumn(name, type, (c) => (fallback === null ? c : c.notNull().defaultTo(fallback)))
          .execute();
      await db.schema
        .createTable('session_checkpoint_chunks')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('session_checkpoint_chunks_pk', ['session_id', 'generation', 'seq'])
        .execute();
    },
  },
  '0012_execution_files': {
    // What a one-shot execution wrote under /mnt/req/out (issue 23), kept with it and pruned with it;
    // redacted before it is stored, base64 text (portable), bounded by KILN_OUTPUT_FILES_MAX_BYTES.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('execution_files')
        .addColumn('execution_id', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('execution_files_pk', ['execution_id', 'path'])
        .execute();
    },
  },
  '0013_replica_urls': {
    // Where each kiln is reached (KILN_REPLICA_URL), said with its heartbeat (issue 24): a client
    // following a run's events through one replica is streamed them from the replica running it.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('replicas').addColumn('url', 'text').execute();
    },
  },
  '0014_api_keys': {
    // Keys made through /v1/keys or the CLI (issue 26): a hash of each secret, never the secret;
    // scopes as JSON; revoked at once for every replica (each request reads its key's row). And
    // the executions log says which key ran each execution.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();
      await db.schema.createIndex('api_keys_project').on('api_keys').columns(['project', 'id']).execute();
      await db.schema.alterTable('executions').addColumn('key_id', 'text').execute();
      await db.schema.alterTable('executions').addColumn('key_name', 'text').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Applies every migration not yet recorded in the database; throws naming the one that failed.
 * `schema` (Postgres): where the migration log lives, named, since Kysely otherwise looks for its
 * tables in every schema and would find another kiln's.
 */
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<void> {
  const { error, results } = await new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) }).migrateToLatest();
  if (error === undefined) return;
  const failed = results?.find((r) => r.status === 'Error')?.migrationName;
  const reason = error instanceof Error ? error.message : String(error);
  throw new Error(failed ? `store migration ${failed} failed: ${reason}` : `store migrations could not run: ${reason}`, { cause: error });
}

/** Names of every migration this build knows, oldest first. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS).sort();
