import type { C1Tables } from './c1/kysely.js';
import type { ExecutionTables } from './executions/kysely.js';
import type { FunctionTables } from './functions/kysely.js';
import type { InvocationTables } from './invocations/kysely.js';
import type { KeyTables } from './keys/kysely.js';
import type { OAuthTables } from './oauth/kysely.js';
import type { RuntimeTables } from './runtimes/kysely.js';
import type { SecretTables } from './secrets/kysely.js';
import type { SessionTables } from './sessions/kysely.js';
import type { ToolTables } from './tools/kysely.js';

/**
 * The whole database as Kysely sees it (created by ./migrations.ts): every entity's tables. Only
 * what opens a database and hands each entity its part sees this; an entity's queries see only
 * their own tables. Only portable column types: JSON is TEXT written with JSON.stringify,
 * timestamps are RFC 3339 TEXT, so SQLite and Postgres share every entity's queries.
 */
export type Database = ToolTables &
  SecretTables &
  ExecutionTables &
  RuntimeTables &
  InvocationTables &
  C1Tables &
  FunctionTables &
  SessionTables &
  KeyTables &
  OAuthTables;
