import type { Page } from '../page.js';
import type { ExecutionVia, InvocationStatus } from '../../model/vocabulary.js';

/**
 * The state of async invocations (issue 12): one row per accepted invocation, under the id its
 * execution will have, from `queued` to an end. What to run is kept sealed (it may hold literal
 * env values and credentials) and dropped once the invocation has ended; the result itself is the
 * execution's row in the executions log. A webhook, when asked for, is delivered from here.
 */

export type { InvocationStatus };
/** The statuses an invocation ends in. */
export type EndStatus = Exclude<InvocationStatus, 'queued' | 'running'>;

export const WEBHOOK_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export interface WebhookState {
  status: WebhookStatus;
  attempts: number;
  /** When the next attempt is due (pending), RFC 3339. */
  nextAt: string | null;
  lastError: string | null;
  /** The first attempt's time: retries stop once they have gone on for the configured total. */
  firstAt: string | null;
}

export interface InvocationRecord {
  id: string; // exec_…: the id of its execution
  project: string;
  via: ExecutionVia;
  status: InvocationStatus;
  /** Why it ended without finishing (interrupted, cancelled, failed); null otherwise. */
  reason: string | null;
  callbackUrl: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Null without a callback_url. */
  webhook: WebhookState | null;
}

/** A due webhook delivery, as the deliverer needs it. */
export interface DueWebhook {
  id: string;
  project: string;
  callbackUrl: string;
  status: InvocationStatus;
  webhook: WebhookState;
}

export interface WebhookSecretRecord {
  project: string;
  /** Sealed by the secret box, as user secrets are. */
  sealed: string;
  /** The one before the last rotation, still signed with for a while so that receivers can switch. */
  previousSealed: string | null;
  rotatedAt: string | null;
  createdAt: string;
}

/**
 * Runs SQL inside the store's own transaction: a queue that lives in the same database (pg-boss)
 * adds its job there, so an invocation is stored and queued together or not at all.
 */
export interface SqlExecutor {
  executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}
export type WithinTransaction = (tx: SqlExecutor) => Promise<void>;

export interface InvocationStore {
  /** Stores a queued invocation; `within` runs in the same transaction (it enqueues the job). */
  create(record: InvocationRecord, sealedRequest: string, within?: WithinTransaction): Promise<void>;
  get(project: string, id: string): Promise<InvocationRecord | null>;
  /** The project's invocations through `via` (MCP's tasks/list), or any surface (null: the console), newest first, paged. */
  list(project: string, via: ExecutionVia | null, page: Page): Promise<InvocationRecord[]>;
  /** The sealed request of a queued or running invocation (null once it has ended). */
  sealedRequest(id: string): Promise<string | null>;
  /** Oldest first, after `afterId`: what a queue loads when it starts. */
  queuedIds(limit: number, afterId?: string): Promise<string[]>;
  /** queued → running, if it still is queued; false when another owner took it or it was cancelled. */
  claim(id: string, owner: string, at: string): Promise<boolean>;
  /** running → queued again (the engine was down): it runs later, as accepted; `within` as for create. */
  requeue(id: string, within?: WithinTransaction): Promise<void>;
  /**
   * Ends a queued or running invocation; with a callback_url, schedules its webhook now. False
   * when it had already ended (a cancel and a finish racing: the first one wins).
   */
  end(id: string, outcome: { status: EndStatus; reason: string | null; at: string }): Promise<boolean>;
  /**
   * A cancel: a queued invocation of the project ends cancelled; a running one is marked for the
   * kiln running it (`cancelRequested`). Answers its status after the attempt, null when missing.
   */
  requestCancel(project: string, id: string, at: string): Promise<InvocationStatus | null>;
  /** Which of `ids` (running here) have had a cancel requested. */
  cancelRequested(ids: string[]): Promise<string[]>;
  /**
   * Invocations left `running` by an owner not in `alive` (a kiln that died) end as `interrupted`
   * — or `finished`, when their execution was recorded before it died. Returns their ids.
   */
  endOrphans(alive: string[], at: string, reason: string): Promise<string[]>;

  /** Says that `owner` (a kiln process) is alive at `at`, and where the others reach it (`url`), if it knows. */
  heartbeat(owner: string, at: string, url?: string | null): Promise<void>;
  /** The owners seen alive since `since`. */
  liveOwners(since: string): Promise<string[]>;
  /** The owners seen alive since `since` that said where they are reached. */
  liveUrls(since: string): Promise<Array<{ owner: string; url: string }>>;
  /** A kiln that stops cleanly leaves; rows of owners not seen since `before` go too. */
  forgetOwners(owner: string, before: string): Promise<void>;

  dueWebhooks(now: string, limit: number): Promise<DueWebhook[]>;
  /**
   * Takes a due delivery for one kiln: moves its due time to `leaseUntil` if it is still as `seen`
   * (another kiln has not taken it). A kiln that dies while delivering leaves it due again then.
   */
  claimWebhook(id: string, seen: WebhookState, leaseUntil: string): Promise<boolean>;
  updateWebhook(id: string, state: WebhookState): Promise<void>;

  getWebhookSecret(project: string): Promise<WebhookSecretRecord | null>;
  /** Stores `record` unless the project has a secret already (two first reads at once); answers the stored one. */
  ensureWebhookSecret(record: WebhookSecretRecord): Promise<WebhookSecretRecord>;
  /** Replaces the project's secret; the replaced one becomes `previousSealed`. */
  rotateWebhookSecret(project: string, sealed: string, at: string): Promise<WebhookSecretRecord | null>;
}
