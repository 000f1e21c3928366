import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations.js';
import type { Database } from '../database.js';

/** A Postgres store and the pool under it, which the invocation queue (pg-boss) shares. */
export interface PostgresStore {
  store: KyselyStore;
  pool: pg.Pool;
}

/**
 * The shared Store: Postgres, for several kilns (replicas) at once. Everything Postgres-specific is
 * here (the pool); the queries are the portable ones in each entity's kysely.ts, put together by
 * ../kysely-store.ts. Replicas that start together migrate once: Kysely's Migrator holds a
 * Postgres advisory lock while it migrates, so the second one waits, then finds every migration
 * recorded.
 *
 * `schema` (tests, or several kilns sharing one database) puts kiln's tables in that schema,
 * created if missing, instead of the database's default search path.
 */
export async function openPostgresStore(opts: { url: string; schema?: string; poolSize?: number }): Promise<PostgresStore> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    // A database that does not answer must fail a request (503), never hang it.
    connectionTimeoutMillis: 5_000,
    // A statement stuck behind a lock fails rather than holding a request forever.
    statement_timeout: 30_000,
    application_name: 'kiln',
    ...(opts.schema ? { options: `-c search_path=${quoteIdent(opts.schema)}` } : {}),
  });
  // A connection the server or the network drops (a restart, a failover) emits 'error' on its client,
  // idle in the pool (the pool's event) or checked out (the client's own, which nothing else listens
  // to while a query runs): unheard, either would end the process. The query in flight fails as it
  // should; the pool makes new connections when the database is back.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    if (opts.schema) await createSchema(pool, opts.schema);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await migrateToLatest(db, opts.schema);
    return { store: new KyselyStore(db), pool };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** `create schema if not exists` is not safe against itself: two kilns at once can both try to create it. */
async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`create schema if not exists ${quoteIdent(schema)}`);
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error; // the other one made it
  }
}

/** A Postgres identifier, quoted (a schema name comes from configuration, not from a user). */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
