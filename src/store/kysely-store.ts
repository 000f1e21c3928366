import { sql, type Kysely } from 'kysely';
import { KyselyC1Store, type C1Tables } from './c1/kysely.js';
import type { Database } from './database.js';
import { KyselyExecutionStore, type ExecutionTables } from './executions/kysely.js';
import { KyselyFunctionStore, type FunctionTables } from './functions/kysely.js';
import { KyselyInvocationStore, type InvocationTables } from './invocations/kysely.js';
import { KyselyKeyStore, type KeyTables } from './keys/kysely.js';
import { KyselyOAuthStore, type OAuthTables } from './oauth/kysely.js';
import { KyselyRuntimeStore, type RuntimeTables } from './runtimes/kysely.js';
import { KyselySecretStore, type SecretTables } from './secrets/kysely.js';
import { KyselySessionStore, type SessionTables } from './sessions/kysely.js';
import type { Store } from './store.js';
import { refuseNulText } from './stored-text.js';
import { KyselyToolStore, type ToolTables } from './tools/kysely.js';

/**
 * The Store over Kysely, in SQL that SQLite and Postgres both accept: the dialect-specific part
 * (opening, PRAGMAs, pools) lives in the file that builds the Kysely instance. Every entity's
 * store gets the same database, seen through its own tables only.
 */
export class KyselyStore implements Store {
  readonly tools: Store['tools'];
  readonly secrets: Store['secrets'];
  readonly executions: Store['executions'];
  readonly runtimes: Store['runtimes'];
  readonly invocations: Store['invocations'];
  readonly c1: Store['c1'];
  readonly functions: Store['functions'];
  readonly sessions: Store['sessions'];
  readonly keys: Store['keys'];
  readonly oauth: Store['oauth'];
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    // one rule for text in both databases (see stored-text.ts), for every entity's queries
    this.db = db.withPlugin(refuseNulText);
    this.tools = new KyselyToolStore(tablesOf<ToolTables>(this.db));
    this.secrets = new KyselySecretStore(tablesOf<SecretTables>(this.db));
    this.executions = new KyselyExecutionStore(tablesOf<ExecutionTables>(this.db));
    this.runtimes = new KyselyRuntimeStore(tablesOf<RuntimeTables>(this.db));
    this.invocations = new KyselyInvocationStore(tablesOf<InvocationTables>(this.db));
    this.c1 = new KyselyC1Store(tablesOf<C1Tables>(this.db));
    this.functions = new KyselyFunctionStore(tablesOf<FunctionTables>(this.db));
    this.sessions = new KyselySessionStore(tablesOf<SessionTables>(this.db));
    this.keys = new KyselyKeyStore(tablesOf<KeyTables>(this.db));
    this.oauth = new KyselyOAuthStore(tablesOf<OAuthTables>(this.db));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/**
 * The database seen through some of its tables. Kysely<T> is invariant in T, so the narrowing is a
 * cast; `Database & T` makes the compiler check that T's tables are Database's, as they are.
 */
const tablesOf = <T>(db: Kysely<Database & T>): Kysely<T> => db as unknown as Kysely<T>;
