import type { Kysely } from 'kysely';
import type { FunctionStore, RegisteredFunction } from './records.js';

/** The iii functions table (migration 0007) as Kysely sees it: a registration is kept whole, as JSON. */

export interface IiiFunctionsTable {
  project: string;
  id: string;
  definition: string; // JSON
  created_at: string;
}

export interface FunctionTables {
  iii_functions: IiiFunctionsTable;
}

/** The FunctionStore in portable SQL. */
export class KyselyFunctionStore implements FunctionStore {
  constructor(private readonly db: Kysely<FunctionTables>) {}

  async register(fn: RegisteredFunction): Promise<boolean> {
    const result = await this.db
      .insertInto('iii_functions')
      .values({ project: fn.project, id: fn.id, definition: JSON.stringify(fn), created_at: fn.created_at })
      .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async get(project: string, id: string): Promise<RegisteredFunction | null> {
    const row = await this.db
      .selectFrom('iii_functions')
      .select('definition')
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? (JSON.parse(row.definition) as RegisteredFunction) : null;
  }

  async list(project: string): Promise<RegisteredFunction[]> {
    const rows = await this.db
      .selectFrom('iii_functions')
      .select('definition')
      .where('project', '=', project)
      .orderBy('id')
      .limit(10_000)
      .execute();
    return rows.map((r) => JSON.parse(r.definition) as RegisteredFunction);
  }

  async remove(project: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('iii_functions').where('project', '=', project).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
