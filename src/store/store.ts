import type { C1Store } from './c1/records.js';
import type { ExecutionStore } from './executions/records.js';
import type { FunctionStore } from './functions/records.js';
import type { InvocationStore } from './invocations/records.js';
import type { RuntimeStore } from './runtimes/records.js';
import type { SecretStore } from './secrets/records.js';
import type { KeyStore } from './keys/records.js';
import type { OAuthStore } from './oauth/records.js';
import type { SessionStore } from './sessions/records.js';
import type { ToolStore } from './tools/records.js';

/**
 * kiln's state, behind one interface with two implementations (SQLite embedded, Postgres for
 * replicas) that pass the same contract suite (test/contract/). Every read and write is scoped by
 * project: an object of another project is indistinguishable from a missing one.
 *
 * One store per entity, each in a folder of its own: `records.ts` (the records and the entity
 * store's interface) and `kysely.ts` (its tables, their mapping to records, and the queries).
 */
export interface Store {
  /** Tools and their append-only revisions. */
  readonly tools: ToolStore;
  /** Secrets, sealed. */
  readonly secrets: SecretStore;
  /** The executions log. */
  readonly executions: ExecutionStore;
  /** Custom runtimes and their builds. */
  readonly runtimes: RuntimeStore;
  /** Async invocations, their webhooks, and each project's signing secret. */
  readonly invocations: InvocationStore;
  /** ConductorOne functions: what they keep besides their tools. */
  readonly c1: C1Store;
  /** Functions registered the iii engine's way. */
  readonly functions: FunctionStore;
  /** Sessions: boxes kept across calls. */
  readonly sessions: SessionStore;
  /** API keys made through /v1/keys (or the CLI), as hashes. */
  readonly keys: KeyStore;
  /** kiln's own OAuth authorization server: clients, grants, codes and tokens, as hashes. */
  readonly oauth: OAuthStore;

  /** Throws unless the database answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// What most callers need of the store, from one place.
export { everyItem, type Page } from './page.js';
export type { ToolStore, Tool, ToolRevision, ToolSummary } from './tools/records.js';
export type { SecretStore, SecretRecord, SealedSecret } from './secrets/records.js';
export type {
  ExecutionStore,
  ExecutionRecord,
  ExecutionKind,
  ExecutionVia,
  ExecutionFilter,
  ExecutionSummary,
} from './executions/records.js';
