import type { ExecutionVia } from './store.js';
import type { InvocationRecord, InvocationStatus, WebhookSecretRecord, WebhookStatus } from './invocation-store.js';

/** The invocation tables (migration 0004) as Kysely sees them, and their mapping to records. */

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

/** Every column but the sealed request and the owner: what a record carries. */
export const INVOCATION_COLUMNS = [
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
export type InvocationRow = Pick<InvocationsTable, (typeof INVOCATION_COLUMNS)[number]>;

export function rowToInvocation(row: InvocationRow): InvocationRecord {
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

export function invocationToRow(r: InvocationRecord, sealedRequest: string): InvocationsTable {
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

export interface ReplicasTable {
  /** A kiln process: `<instance>/<boot>`, as it claims invocations. */
  owner: string;
  started_at: string;
  seen_at: string;
}

export const rowToWebhookSecret = (row: WebhookSecretsTable): WebhookSecretRecord => ({
  project: row.project,
  sealed: row.sealed,
  previousSealed: row.previous_sealed,
  rotatedAt: row.rotated_at,
  createdAt: row.created_at,
});
