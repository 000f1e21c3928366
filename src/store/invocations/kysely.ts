import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import type { ExecutionVia } from '../../model/vocabulary.js';
import type { ExecutionsTable } from '../executions/kysely.js';
import { pageSize, type Page } from '../page.js';
import type {
  DueWebhook,
  EndStatus,
  InvocationRecord,
  InvocationStatus,
  InvocationStore,
  SqlExecutor,
  WebhookSecretRecord,
  WebhookState,
  WebhookStatus,
  WithinTransaction,
} from './records.js';

/** The invocation tables (migrations 0004 on) as Kysely sees them, and their mapping to records. */

export interface InvocationsTable {
  id: string;
  project: string;
  via: string;
  status: string;
  reason: string | null;
  sealed_request: string | null;
  callback_url: string | null;
  owner: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  webhook_status: string | null;
  webhook_attempts: number;
  webhook_next_at: string | null;
  webhook_last_error: string | null;
  webhook_first_at: string | null;
  /** Set by a cancel of a running invocation; the kiln running it stops it. */
  cancel_requested_at: string | null;
}

export interface WebhookSecretsTable {
  project: string;
  sealed: string;
  previous_sealed: string | null;
  rotated_at: string | null;
  created_at: string;
}

export interface ReplicasTable {
  /** A kiln process: `<instance>/<boot>`, as it claims invocations. */
  owner: string;
  started_at: string;
  seen_at: string;
  /** Where the other kilns reach it (KILN_REPLICA_URL), if it said. */
  url: string | null;
}

export interface InvocationTables {
  invocations: InvocationsTable;
  webhook_secrets: WebhookSecretsTable;
  replicas: ReplicasTable;
  /** Read, never written: whether an orphaned invocation's execution was recorded before its kiln died. */
  executions: Pick<ExecutionsTable, 'id'>;
}

/** Every column but the sealed request and the owner: what a record carries. */
const INVOCATION_COLUMNS = [
  'id',
  'project',
  'via',
  'status',
  'reason',
  'callback_url',
  'created_at',
  'started_at',
  'ended_at',
  'webhook_status',
  'webhook_attempts',
  'webhook_next_at',
  'webhook_last_error',
  'webhook_first_at',
] as const;
type InvocationRow = Pick<InvocationsTable, (typeof INVOCATION_COLUMNS)[number]>;

function rowToInvocation(row: InvocationRow): InvocationRecord {
  return {
    id: row.id,
    project: row.project,
    via: row.via as ExecutionVia,
    status: row.status as InvocationStatus,
    reason: row.reason,
    callbackUrl: row.callback_url,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    webhook: row.webhook_status
      ? {
          status: row.webhook_status as WebhookStatus,
          attempts: Number(row.webhook_attempts),
          nextAt: row.webhook_next_at,
          lastError: row.webhook_last_error,
          firstAt: row.webhook_first_at,
        }
      : null,
  };
}

function invocationToRow(r: InvocationRecord, sealedRequest: string): InvocationsTable {
  return {
    id: r.id,
    project: r.project,
    via: r.via,
    status: r.status,
    reason: r.reason,
    sealed_request: sealedRequest,
    callback_url: r.callbackUrl,
    owner: null,
    created_at: r.createdAt,
    started_at: r.startedAt,
    ended_at: r.endedAt,
    webhook_status: r.webhook?.status ?? null,
    webhook_attempts: r.webhook?.attempts ?? 0,
    webhook_next_at: r.webhook?.nextAt ?? null,
    webhook_last_error: r.webhook?.lastError ?? null,
    webhook_first_at: r.webhook?.firstAt ?? null,
    cancel_requested_at: null,
  };
}

const rowToWebhookSecret = (row: WebhookSecretsTable): WebhookSecretRecord => ({
  project: row.project,
  sealed: row.sealed,
  previousSealed: row.previous_sealed,
  rotatedAt: row.rotated_at,
  createdAt: row.created_at,
});

/**
 * The InvocationStore in portable SQL (SQLite and Postgres). Every change of status is a
 * compare-and-set on the status it expects, so a claim, a cancel and an end that race settle on
 * one winner whatever the engine.
 */
export class KyselyInvocationStore implements InvocationStore {
  constructor(private readonly db: Kysely<InvocationTables>) {}

  async create(record: InvocationRecord, sealedRequest: string, within?: WithinTransaction): Promise<void> {
    if (!within) return void (await this.db.insertInto('invocations').values(invocationToRow(record, sealedRequest)).execute());
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('invocations').values(invocationToRow(record, sealedRequest)).execute();
      await within(executor(trx));
    });
  }

  async list(project: string, via: ExecutionVia | null, page: Page): Promise<InvocationRecord[]> {
    let query = this.db
      .selectFrom('invocations')
      .select(INVOCATION_COLUMNS)
      .where('project', '=', project)
      .orderBy('id', 'desc')
      .limit(pageSize(page));
    if (via !== null) query = query.where('via', '=', via);
    if (page.startingAfter !== undefined) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(rowToInvocation);
  }

  async get(project: string, id: string): Promise<InvocationRecord | null> {
    const row = await this.db
      .selectFrom('invocations')
      .select(INVOCATION_COLUMNS)
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? rowToInvocation(row) : null;
  }

  async sealedRequest(id: string): Promise<string | null> {
    const row = await this.db.selectFrom('invocations').select('sealed_request').where('id', '=', id).executeTakeFirst();
    return row?.sealed_request ?? null;
  }

  async queuedIds(limit: number, afterId?: string): Promise<string[]> {
    let query = this.db.selectFrom('invocations').select('id').where('status', '=', 'queued');
    if (afterId) query = query.where('id', '>', afterId);
    return (await query.orderBy('id').limit(limit).execute()).map((r) => r.id);
  }

  async claim(id: string, owner: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('invocations')
      .set({ status: 'running', owner, started_at: at })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async requeue(id: string, within?: WithinTransaction): Promise<void> {
    const requeue = (db: Kysely<InvocationTables>) =>
      db
        .updateTable('invocations')
        .set({ status: 'queued', owner: null, started_at: null })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute();
    if (!within) return void (await requeue(this.db));
    await this.db.transaction().execute(async (trx) => {
      await requeue(trx);
      await within(executor(trx));
    });
  }

  async end(id: string, outcome: { status: EndStatus; reason: string | null; at: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('invocations')
      .set({
        status: outcome.status,
        reason: outcome.reason,
        ended_at: outcome.at,
        // what to run is no longer needed; it may hold literal credentials
        sealed_request: null,
        webhook_status: sql<string | null>`case when callback_url is null then null else 'pending' end`,
        webhook_next_at: sql<string | null>`case when callback_url is null then null else ${outcome.at} end`,
      })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async requestCancel(project: string, id: string, at: string): Promise<InvocationStatus | null> {
    const row = await this.db
      .selectFrom('invocations')
      .select(['id', 'status'])
      .where('project', '=', project)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    if (row.status === 'queued') await this.end(id, { status: 'cancelled', reason: 'cancelled before it ran', at });
    // (queued a moment ago and claimed since: the mark reaches the kiln that now runs it)
    await this.db
      .updateTable('invocations')
      .set({ cancel_requested_at: at })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
    const after = await this.db.selectFrom('invocations').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    return after.status as InvocationStatus;
  }

  async cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('invocations')
      .select('id')
      .where('id', 'in', ids)
      .where('cancel_requested_at', 'is not', null)
      .execute();
    return rows.map((r) => r.id);
  }

  async endOrphans(alive: string[], at: string, reason: string): Promise<string[]> {
    let query = this.db.selectFrom('invocations').select('id').where('status', '=', 'running');
    if (alive.length) query = query.where((eb) => eb.or([eb('owner', 'is', null), eb('owner', 'not in', alive)]));
    const orphans = await query.execute();
    const ended: string[] = [];
    for (const { id } of orphans) {
      // recorded in the executions log before the kiln running it died: it did finish
      const recorded = await this.db.selectFrom('executions').select('id').where('id', '=', id).executeTakeFirst();
      if (await this.end(id, recorded ? { status: 'finished', reason: null, at } : { status: 'interrupted', reason, at })) ended.push(id);
    }
    return ended;
  }

  async heartbeat(owner: string, at: string, url: string | null = null): Promise<void> {
    await this.db
      .insertInto('replicas')
      .values({ owner, started_at: at, seen_at: at, url })
      .onConflict((oc) => oc.column('owner').doUpdateSet({ seen_at: at, url }))
      .execute();
  }

  async liveOwners(since: string): Promise<string[]> {
    return (await this.db.selectFrom('replicas').select('owner').where('seen_at', '>=', since).execute()).map((r) => r.owner);
  }

  async liveUrls(since: string): Promise<Array<{ owner: string; url: string }>> {
    const rows = await this.db
      .selectFrom('replicas')
      .select(['owner', 'url'])
      .where('seen_at', '>=', since)
      .where('url', 'is not', null)
      .execute();
    return rows.map((r) => ({ owner: r.owner, url: r.url! }));
  }

  async forgetOwners(owner: string, before: string): Promise<void> {
    await this.db
      .deleteFrom('replicas')
      .where((eb) => eb.or([eb('owner', '=', owner), eb('seen_at', '<', before)]))
      .execute();
  }

  async dueWebhooks(now: string, limit: number): Promise<DueWebhook[]> {
    const rows = await this.db
      .selectFrom('invocations')
      .select(INVOCATION_COLUMNS)
      .where('webhook_status', '=', 'pending')
      .where('webhook_next_at', '<=', now)
      .orderBy('webhook_next_at')
      .limit(limit)
      .execute();
    return rows
      .map(rowToInvocation)
      .map((r) => ({ id: r.id, project: r.project, callbackUrl: r.callbackUrl!, status: r.status, webhook: r.webhook! }));
  }

  async claimWebhook(id: string, seen: WebhookState, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('invocations')
      .set({ webhook_next_at: leaseUntil })
      .where('id', '=', id)
      .where('webhook_status', '=', 'pending')
      .where('webhook_attempts', '=', seen.attempts)
      .where('webhook_next_at', '=', seen.nextAt)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async updateWebhook(id: string, state: WebhookState): Promise<void> {
    await this.db
      .updateTable('invocations')
      .set({
        webhook_status: state.status,
        webhook_attempts: state.attempts,
        webhook_next_at: state.nextAt,
        webhook_last_error: state.lastError,
        webhook_first_at: state.firstAt,
      })
      .where('id', '=', id)
      .execute();
  }

  async getWebhookSecret(project: string): Promise<WebhookSecretRecord | null> {
    const row = await this.db.selectFrom('webhook_secrets').selectAll().where('project', '=', project).executeTakeFirst();
    return row ? rowToWebhookSecret(row) : null;
  }

  async ensureWebhookSecret(record: WebhookSecretRecord): Promise<WebhookSecretRecord> {
    await this.db
      .insertInto('webhook_secrets')
      .values({ project: record.project, sealed: record.sealed, previous_sealed: null, rotated_at: null, created_at: record.createdAt })
      .onConflict((oc) => oc.column('project').doNothing())
      .execute();
    return (await this.getWebhookSecret(record.project))!;
  }

  async rotateWebhookSecret(project: string, sealed: string, at: string): Promise<WebhookSecretRecord | null> {
    await this.db
      .updateTable('webhook_secrets')
      .set((eb) => ({ previous_sealed: eb.ref('sealed'), sealed, rotated_at: at }))
      .where('project', '=', project)
      .execute();
    return this.getWebhookSecret(project);
  }
}

/** The pg-style executor a job queue expects, over a Kysely transaction (the same connection). */
function executor(trx: Transaction<InvocationTables>): SqlExecutor {
  return { executeSql: async (text, values) => ({ rows: [...(await trx.executeQuery(CompiledQuery.raw(text, values))).rows] }) };
}
