import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { migration as m0001 } from './migrations/0001_initial.js';
import { migration as m0002 } from './migrations/0002_runtimes.js';
import { migration as m0003 } from './migrations/0003_execution_via.js';
import { migration as m0004 } from './migrations/0004_invocations.js';
import { migration as m0005 } from './migrations/0005_tool_files.js';
import { migration as m0006 } from './migrations/0006_c1_functions.js';
import { migration as m0007 } from './migrations/0007_iii_functions.js';
import { migration as m0008 } from './migrations/0008_replicas.js';
import { migration as m0009 } from './migrations/0009_bounds.js';
import { migration as m0010 } from './migrations/0010_sessions.js';
import { migration as m0011 } from './migrations/0011_session_checkpoints.js';
import { migration as m0012 } from './migrations/0012_execution_files.js';
import { migration as m0013 } from './migrations/0013_replica_urls.js';
import { migration as m0014 } from './migrations/0014_api_keys.js';
import { migration as m0015 } from './migrations/0015_oauth.js';
import { migration as m0016 } from './migrations/0016_execution_parents.js';
import { migration as m0017 } from './migrations/0017_execution_filters.js';

/**
 * The schema's history, in code so that it ships inside the build (no migrations folder to find
 * at run time), one file a migration under ./migrations. Shared by every Store dialect: only
 * Kysely's schema builder and portable types (text, integer), nothing a given engine alone
 * understands. Append new entries; never edit one that has shipped, since databases in the field
 * have already recorded it as applied.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_runtimes': m0002,
  '0003_execution_via': m0003,
  '0004_invocations': m0004,
  '0005_tool_files': m0005,
  '0006_c1_functions': m0006,
  '0007_iii_functions': m0007,
  '0008_replicas': m0008,
  '0009_bounds': m0009,
  '0010_sessions': m0010,
  '0011_session_checkpoints': m0011,
  '0012_execution_files': m0012,
  '0013_replica_urls': m0013,
  '0014_api_keys': m0014,
  '0015_oauth': m0015,
  '0016_execution_parents': m0016,
  '0017_execution_filters': m0017,
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
