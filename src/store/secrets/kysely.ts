import type { Kysely } from 'kysely';
import { pageSize, type Page } from '../page.js';
import type { SealedSecret, SecretRecord, SecretStore } from './records.js';

/** The secrets table (migration 0001) as Kysely sees it, and its mapping to records. */

export interface SecretsTable {
  id: string;
  project: string;
  name: string;
  sealed: string;
  created_at: string;
  updated_at: string;
}

export interface SecretTables {
  secrets: SecretsTable;
}

function rowToSecret(row: Omit<SecretsTable, 'sealed'>): SecretRecord {
  return { id: row.id, project: row.project, name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}

/** The SecretStore in portable SQL (SQLite and Postgres); every query is scoped by project. */
export class KyselySecretStore implements SecretStore {
  constructor(private readonly db: Kysely<SecretTables>) {}

  async create(secret: SealedSecret): Promise<SecretRecord> {
    await this.db
      .insertInto('secrets')
      .values({
        id: secret.id,
        project: secret.project,
        name: secret.name,
        sealed: secret.sealed,
        created_at: secret.createdAt,
        updated_at: secret.updatedAt,
      })
      .execute();
    return { id: secret.id, project: secret.project, name: secret.name, createdAt: secret.createdAt, updatedAt: secret.updatedAt };
  }

  async list(project: string, page: Page): Promise<SecretRecord[]> {
    // The sealed column is not selected: a listing has no business carrying it around.
    let query = this.db
      .selectFrom('secrets')
      .select(['id', 'project', 'name', 'created_at', 'updated_at'])
      .where('project', '=', project)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(rowToSecret);
  }

  async getMany(project: string, ids: string[]): Promise<SealedSecret[]> {
    if (ids.length === 0) return []; // `in ()` is not valid SQL
    const rows = await this.db
      .selectFrom('secrets')
      .selectAll()
      .where('project', '=', project)
      .where('id', 'in', [...new Set(ids)])
      .orderBy('id')
      .execute();
    return rows.map((row) => ({ ...rowToSecret(row), sealed: row.sealed }));
  }

  async update(project: string, id: string, sealed: string, updatedAt: string): Promise<SecretRecord | null> {
    const row = await this.db
      .updateTable('secrets')
      .set({ sealed, updated_at: updatedAt })
      .where('project', '=', project)
      .where('id', '=', id)
      .returning(['id', 'project', 'name', 'created_at', 'updated_at'])
      .executeTakeFirst();
    return row ? rowToSecret(row) : null;
  }

  async delete(project: string, id: string): Promise<boolean> {
    const { numDeletedRows } = await this.db.deleteFrom('secrets').where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return numDeletedRows > 0n;
  }
}
