import type { Kysely } from 'kysely';
import type { Database } from './rows.js';

/** An iii function as registered (issue 13): its message, with auth secrets resolved to ids. */
export interface RegisteredFunction {
  project: string;
  id: string;
  description?: string;
  request_format?: unknown;
  response_format?: unknown;
  metadata?: unknown;
  invocation?: {
    url: string;
    method: string;
    timeout_ms: number;
    headers?: Record<string, string>;
    /** As registered, plus the id of the secret each `*_key` named then. */
    auth?:
      | { type: 'bearer'; token_key: string }
      | { type: 'hmac'; secret_key: string }
      | { type: 'api_key'; header: string; value_key: string };
    secret_id?: string;
  };
  created_at: string;
}

export interface IiiFunctionsTable {
  project: string;
  id: string;
  definition: string; // JSON
  created_at: string;
}

/** Registered functions, by project and id; a second registration of an id is refused (false). */
export interface FunctionStore {
  register(fn: RegisteredFunction): Promise<boolean>;
  get(project: string, id: string): Promise<RegisteredFunction | null>;
  list(project: string): Promise<RegisteredFunction[]>;
  remove(project: string, id: string): Promise<boolean>;
}

/** The FunctionStore in portable SQL. */
export class KyselyFunctionStore implements FunctionStore {
  constructor(private readonly db: Kysely<Database>) {}

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
