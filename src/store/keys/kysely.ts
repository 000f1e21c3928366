import type { Kysely } from 'kysely';
import { pageSize, type Page } from '../page.js';
import type { KeyRecord, KeyStore } from './records.js';

/** The api_keys table (migration 0014) as Kysely sees it, and its mapping to records. */
export interface ApiKeysTable {
  id: string;
  project: string;
  name: string;
  scopes: string; // JSON array
  hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface KeyTables {
  api_keys: ApiKeysTable;
}

const COLUMNS = ['id', 'project', 'name', 'scopes', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'] as const;

function toRecord(row: Omit<ApiKeysTable, 'hash'>): KeyRecord {
  return {
    id: row.id,
    project: row.project,
    name: row.name,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

/** The KeyStore in portable SQL (SQLite and Postgres); listing and revoking are scoped by project. */
export class KyselyKeyStore implements KeyStore {
  constructor(private readonly db: Kysely<KeyTables>) {}

  async create(key: KeyRecord, hash: string): Promise<void> {
    await this.db
      .insertInto('api_keys')
      .values({
        id: key.id,
        project: key.project,
        name: key.name,
        scopes: JSON.stringify(key.scopes),
        hash,
        created_at: key.createdAt,
        expires_at: key.expiresAt,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
  }

  async find(id: string): Promise<(KeyRecord & { hash: string }) | null> {
    const row = await this.db
      .selectFrom('api_keys')
      .select([...COLUMNS, 'hash'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? { ...toRecord(row), hash: row.hash } : null;
  }

  async list(project: string, page: Page): Promise<KeyRecord[]> {
    let query = this.db.selectFrom('api_keys').select(COLUMNS).where('project', '=', project).orderBy('id', 'desc').limit(pageSize(page));
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(toRecord);
  }

  async revoke(project: string, id: string, at: string): Promise<KeyRecord | null> {
    const row = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('project', '=', project)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .returning(COLUMNS)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async used(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
