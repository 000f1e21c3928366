import BetterSqlite3 from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/secrets/secret-box.js';
import { MIGRATION_NAMES } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { aSecret, anExecution, newProject } from './records.js';
import { describeStoreContract } from './store-contract.js';
import { describeRuntimeStoreContract } from './runtime-store-contract.js';
import { describeInvocationStoreContract } from './invocation-store-contract.js';
import { describeKeyStoreContract } from './key-store-contract.js';
import { describeOAuthStoreContract } from './oauth-store-contract.js';
import { describeSessionStoreContract } from './session-store-contract.js';

let root: string;
let files = 0;
// Each store gets its own file, in a directory openSqliteStore has to create.
const newFile = () => join(root, `db${++files}`, 'kiln.db');
const fileOf = new Map<Store, string>();

async function open(file = newFile()): Promise<Store> {
  const store = await openSqliteStore({ file });
  fileOf.set(store, file);
  return store;
}

/** A raw connection beside the store, to look at what the store cannot show. */
function inspect<T>(file: string, look: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return look(db);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-sqlite-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeStoreContract('sqlite', () => open(), {
  async reopen(store) {
    const file = fileOf.get(store)!;
    await store.close();
    return open(file);
  },
});

describeRuntimeStoreContract('sqlite', () => open());
describeInvocationStoreContract('sqlite', () => open());
describeSessionStoreContract('sqlite', () => open());
describeKeyStoreContract('sqlite', () => open());
describeOAuthStoreContract('sqlite', () => open());

describe('SQLite store', () => {
  it('keeps the database and its WAL readable by its owner only', async () => {
    const file = newFile();
    const store = await open(file);
    try {
      await store.secrets.create({ id: 'secret_01', project: 'p', name: 'n', sealed: 'v1.x', createdAt: 'now', updatedAt: 'now' });
      for (const f of [file, `${file}-wal`]) expect((await stat(f)).mode & 0o777, f).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  it('runs in WAL mode with foreign keys on', async () => {
    const file = newFile();
    const store = await open(file);
    try {
      expect(inspect(file, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
    } finally {
      await store.close();
    }
  });

  it('records its migrations and does not run them again on reopen', async () => {
    const file = newFile();
    const project = newProject();
    const first = await open(file);
    await first.executions.record(anExecution(project));
    await first.close();
    const applied = () =>
      inspect(
        file,
        (db) => db.prepare('select name, timestamp from kysely_migration order by name').all() as { name: string; timestamp: string }[],
      );
    const before = applied();
    expect(before.map((m) => m.name)).toEqual(MIGRATION_NAMES);

    const second = await open(file); // 0001 again would fail: its tables exist
    expect(await second.executions.list(project, { limit: 10 })).toHaveLength(1);
    await second.close();
    expect(applied()).toEqual(before);
  });

  it('names the migration that failed', async () => {
    const file = newFile();
    await open(file).then((s) => s.close());
    // A database whose tables exist but whose migration log was lost: 0001 runs and collides.
    const db = new BetterSqlite3(file);
    db.exec('drop table kysely_migration');
    db.close();
    await expect(openSqliteStore({ file })).rejects.toThrow(/0001_initial/);
  });

  it('lists failures through the partial index', async () => {
    const file = newFile();
    const store = await open(file);
    await store.close();
    const plan = inspect(file, (db) =>
      db
        .prepare('explain query plan select * from "executions" where "project" = ? and exit_code <> 0 order by "id" desc limit ?')
        .all('p', 10),
    ) as { detail: string }[];
    expect(plan.map((row) => row.detail).join('\n')).toContain('executions_project_failed_id');
  });

  it("keeps no secret's plaintext in the database or its WAL", async () => {
    const file = newFile();
    const store = await open(file);
    const box = new SecretBox(randomBytes(32));
    const project = newProject();
    const plaintext = `sk-live-${randomBytes(16).toString('hex')}`;
    const secret = aSecret(project);
    secret.sealed = box.seal(plaintext, `${project}/${secret.id}`);
    await store.secrets.create(secret);

    const bytes = async () => Buffer.concat(await Promise.all([file, `${file}-wal`].filter(existsSync).map((f) => readFile(f))));
    const whileOpen = await bytes();
    // The search is real: the sealed form is in those bytes, the clear one is not.
    expect(whileOpen.includes(secret.sealed)).toBe(true);
    expect(whileOpen.includes(plaintext)).toBe(false);
    await store.close();
    expect((await bytes()).includes(plaintext)).toBe(false);
  });
});
