import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { POSTGRES_MODE, postgresEnvFor } from './postgres.js';

/**
 * Asserts that `value` is stored nowhere in clear in a kiln's state: no file of its data directory
 * (the SQLite database, its WAL, keys) and, on PostgreSQL, no row of any table of its database.
 */
export async function expectStoredNowhere(dataDir: string, value: string): Promise<void> {
  const files = readdirSync(dataDir);
  if (!POSTGRES_MODE) expect(files).toEqual(expect.arrayContaining(['kiln.db', 'secrets.key']));
  for (const file of files) expect(readFileSync(join(dataDir, file)).includes(value), file).toBe(false);
  if (!POSTGRES_MODE) return;
  // every row of every table of its database, as text: the sealed form only
  const db = new pg.Client({ connectionString: (await postgresEnvFor(dataDir)).KILN_DATABASE_URL });
  await db.connect();
  try {
    const { rows: tables } = await db.query<{ schemaname: string; tablename: string }>(
      "select schemaname, tablename from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
    );
    expect(tables.map((t) => t.tablename)).toContain('secrets');
    for (const t of tables) {
      const { rows } = await db.query(`select * from "${t.schemaname}"."${t.tablename}"`);
      expect(JSON.stringify(rows).includes(value), `${t.schemaname}.${t.tablename}`).toBe(false);
    }
  } finally {
    await db.end();
  }
}
