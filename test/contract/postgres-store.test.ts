import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATION_NAMES } from '../../src/store/migrations.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/store.js';
import { anExecution, newProject } from './records.js';
import { describeStoreContract } from './store-contract.js';
import { describeRuntimeStoreContract } from './runtime-store-contract.js';
import { describeInvocationStoreContract } from './invocation-store-contract.js';
import { describeKeyStoreContract } from './key-store-contract.js';
import { describeOAuthStoreContract } from './oauth-store-contract.js';
import { describeSessionStoreContract } from './session-store-contract.js';
import { requirePostgres, testDatabaseUrl } from '../helpers/postgres.js';

// The same contract as SQLite's, against a real PostgreSQL (`npm run setup` starts one; CI too).
// Each store gets a schema of its own, so that the cross-project queries (retention, the queue,
// webhooks) see only what that test wrote.
const url = testDatabaseUrl();
const run = randomBytes(3).toString('hex');
let schemas = 0;
const schemaOf = new Map<Store, string>();
const admin = new pg.Pool({ connectionString: url, max: 2 });

async function open(schema = `kiln_contract_${run}_${++schemas}`): Promise<Store> {
  const { store } = await openPostgresStore({ url, schema, poolSize: 4 });
  schemaOf.set(store, schema);
  return store;
}

beforeAll(async () => {
  await requirePostgres(); // fails here, saying how to fix it, when no PostgreSQL runs
});
afterAll(async () => {
  const { rows } = await admin.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like $1`, [
    `kiln_contract_${run}_%`,
  ]);
  for (const { nspname } of rows) await admin.query(`drop schema "${nspname}" cascade`);
  await admin.end();
});

describeStoreContract('postgres', () => open(), {
  async reopen(store) {
    const schema = schemaOf.get(store)!;
    await store.close();
    return open(schema);
  },
});
describeRuntimeStoreContract('postgres', () => open());
describeInvocationStoreContract('postgres', () => open());
describeSessionStoreContract('postgres', () => open());
describeKeyStoreContract('postgres', () => open());
describeOAuthStoreContract('postgres', () => open());

describe('Postgres store', () => {
  it('migrates once when several kilns start on one database at the same moment', async () => {
    const schema = `kiln_contract_${run}_race`;
    const stores = await Promise.all([1, 2, 3, 4].map(() => open(schema)));
    try {
      const { rows } = await admin.query<{ name: string }>(`select name from "${schema}".kysely_migration order by name`);
      expect(rows.map((r) => r.name)).toEqual(MIGRATION_NAMES);
      // and they share it: one writes, another reads
      const project = newProject();
      const execution = anExecution(project);
      await stores[0]!.executions.record(execution);
      expect((await stores[3]!.executions.get(project, execution.id))?.id).toBe(execution.id);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('fails to open, naming the reason, when the database cannot be reached', async () => {
    const bad = new URL(url);
    bad.password = 'not-the-password';
    await expect(openPostgresStore({ url: bad.toString() })).rejects.toThrow(/password/);
  });
});
