import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { INVOCATION_COLUMNS, invocationToRow, rowToInvocation, rowToWebhookSecret } from './invocation-rows.js';
import type {
  DueWebhook,
  EndStatus,
  InvocationRecord,
  InvocationStatus,
  InvocationStore,
  SqlExecutor,
  WebhookSecretRecord,
  WebhookState,
  WithinTransaction,
} from './invocation-store.js';
import type { Database } from './rows.js';

/**
 * The InvocationStore in portable SQL (SQLite and Postgres). Every change of status is a
 * compare-and-set on the status it expects, so a claim, a cancel and an end that race settle on
 * one winner whatever the engine.
 */
export class KyselyInvocationStore implements InvocationStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(record: InvocationRecord, sealedRequest: string, within?: WithinTransaction): Promise<void> {
    if (!within) return void (await this.db.insertInto('invocations').values(invocationToRow(record, sealedRequest)).execute());
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('invocations').values(invocationToRow(record, sealedRequest)).execute();
      await within(executor(trx));
    });
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
    const requeue = (db: Kysely<Database>) =>
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

  async heartbeat(owner: string, at: string): Promise<void> {
    await this.db
      .insertInto('replicas')
      .values({ owner, started_at: at, seen_at: at })
      .onConflict((oc) => oc.column('owner').doUpdateSet({ seen_at: at }))
      .execute();
  }

  async liveOwners(since: string): Promise<string[]> {
    return (await this.db.selectFrom('replicas').select('owner').where('seen_at', '>=', since).execute()).map((r) => r.owner);
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
function executor(trx: Transaction<Database>): SqlExecutor {
  return { executeSql: async (text, values) => ({ rows: [...(await trx.executeQuery(CompiledQuery.raw(text, values))).rows] }) };
}
