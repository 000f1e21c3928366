import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KyselyStore } from '../kysely-store.js';
import { migrateToLatest } from '../migrations.js';
import type { Database } from '../database.js';
import type { Store } from '../store.js';

/**
 * The embedded Store: one SQLite file, for a single kiln process. Everything SQLite-specific is
 * here (the connection and its PRAGMAs); the queries are the portable ones in each entity's
 * kysely.ts, put together by ../kysely-store.ts.
 */
export async function openSqliteStore({ file }: { file: string }): Promise<Store> {
  // 0700: the file holds sealed secrets and every execution's request and result.
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // 0600 before SQLite opens it: the -wal and -shm files it creates copy the database file's mode.
  await (await open(file, 'a', 0o600)).close();
  await chmod(file, 0o600);
  const sqlite = new BetterSqlite3(file);
  try {
    // WAL: readers do not block the writer, and a commit is one append rather than two writes.
    sqlite.pragma('journal_mode = WAL');
    // NORMAL under WAL: a power cut can lose the last commits but never corrupts the file.
    sqlite.pragma('synchronous = NORMAL');
    // Another process (a backup, the sqlite3 shell) holding the lock briefly is waited out.
    sqlite.pragma('busy_timeout = 5000');
    // Off by default in SQLite, per connection: without it REFERENCES is decoration.
    sqlite.pragma('foreign_keys = ON');
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyStore(db);
}
