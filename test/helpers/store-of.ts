import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { POSTGRES_MODE, postgresEnvFor } from './postgres.js';

/**
 * The store a test kiln keeps its state in (its data directory's SQLite file, or its PostgreSQL
 * database under KILN_TEST_STORE=postgres), opened beside it: for reading what no key of the test
 * may read through the API (another project's log, say). Close it when done.
 */
export async function openStoreOf(dataDir: string): Promise<Store> {
  if (!POSTGRES_MODE) return openSqliteStore({ file: join(dataDir, 'kiln.db') });
  return (await openPostgresStore({ url: (await postgresEnvFor(dataDir)).KILN_DATABASE_URL! })).store;
}
