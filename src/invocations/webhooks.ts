import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { RefusedAddress, type AddressPolicy } from '../egress/address-policy.js';
import { storeUnavailable } from '../errors.js';
import { outboundPost } from '../egress/outbound.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { DueWebhook, InvocationStore, WebhookSecretRecord } from '../store/invocations/records.js';

/** After a rotation, the previous secret signs too for this long, so receivers can switch over. */
const ROTATION_GRACE_MS = 24 * 3600_000;
const MAX_DELAY_MS = 3600_000;
const BATCH = 8;

const aad = (project: string) => `webhook-secret/${project}`;
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * Webhooks per Standard Webhooks: each project's signing secret (`whsec_…`, sealed at rest,
 * readable and rotatable by the project), and the deliverer, which posts each ended invocation
 * to its callback_url with `webhook-id` (the execution id, the same on every retry),
 * `webhook-timestamp` and `webhook-signature`, retrying with exponential backoff for
 * `retrySeconds`, and obeying the egress address policy.
 */
export function createWebhooks(deps: {
  store: InvocationStore;
  box: SecretBox;
  policy: AddressPolicy;
  log: Logger;
  retrySeconds: number;
  timeoutSeconds: number;
  /** The body's `data` for an ended invocation: what GET /v1/executions/{id} answers. */
  render: (project: string, id: string) => Promise<unknown>;
}) {
  const { store, box } = deps;

  async function record(project: string): Promise<WebhookSecretRecord> {
    return (
      (await store.getWebhookSecret(project)) ??
      store.ensureWebhookSecret({
        project,
        sealed: box.seal(newSecret(), aad(project)),
        previousSealed: null,
        rotatedAt: null,
        createdAt: new Date().toISOString(),
      })
    );
  }

  /** The signatures for a message: the current secret's, and the previous one's within the grace. */
  async function sign(project: string, id: string, at: Date, body: string): Promise<string> {
    const r = await record(project);
    const secrets = [box.open(r.sealed, aad(project))];
    if (r.previousSealed && r.rotatedAt && Date.now() - Date.parse(r.rotatedAt) < ROTATION_GRACE_MS)
      secrets.push(box.open(r.previousSealed, aad(project)));
    return secrets.map((s) => new Webhook(s).sign(id, at, body)).join(' ');
  }

  async function deliver(due: DueWebhook): Promise<void> {
    const now = new Date();
    // one kiln per attempt (replicas share the store): until the lease ends, no other one takes it
    const lease = new Date(now.getTime() + (deps.timeoutSeconds + 30) * 1000).toISOString();
    if (!(await store.claimWebhook(due.id, due.webhook, lease))) return;
    const firstAt = due.webhook.firstAt ?? now.toISOString();
    const attempts = due.webhook.attempts + 1;
    let error: string | null = null;
    // the policy's answer does not change with time: refused once is refused for good
    let refused = false;
    try {
      const body = JSON.stringify({ type: 'execution.ended', timestamp: now.toISOString(), data: await deps.render(due.project, due.id) });
      const headers = {
        'webhook-id': due.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': await sign(due.project, due.id, now, body),
      };
      // the receiver's answer is not kept: its status says it all
      const { status } = await outboundPost(
        new URL(due.callbackUrl),
        body,
        { ...headers, 'content-type': 'application/json' },
        deps.policy,
        { timeoutMs: deps.timeoutSeconds * 1000, maxResponseBytes: 64 * 1024 },
      );
      if (status < 200 || status >= 300) error = `the receiver answered HTTP ${status}`;
    } catch (err) {
      if (err instanceof RefusedAddress) {
        refused = true;
        // the project reads last_error: the address kiln's resolver gave goes to the log only
        error = err.toCaller('KILN_WEBHOOK_ALLOW_ADDRESSES');
        deps.log.warn({ invocation: due.id, host: err.host, why: err.why }, 'webhook refused by the address policy');
      } else error = (err as Error).message;
    }
    if (error === null) return store.updateWebhook(due.id, { status: 'delivered', attempts, nextAt: null, lastError: null, firstAt });
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** (attempts - 1));
    const giveUp = refused || Date.now() + delay - Date.parse(firstAt) > deps.retrySeconds * 1000;
    await store.updateWebhook(due.id, {
      status: giveUp ? 'failed' : 'pending',
      attempts,
      nextAt: giveUp ? null : new Date(Date.now() + delay).toISOString(),
      lastError: error.slice(0, 500),
      firstAt,
    });
    if (giveUp) deps.log.warn({ invocation: due.id, attempts, error }, 'webhook not delivered; giving up');
  }

  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  async function tick(): Promise<void> {
    for (;;) {
      const due = await store.dueWebhooks(new Date().toISOString(), BATCH);
      await Promise.all(
        due.map((d) => deliver(d).catch((err: unknown) => deps.log.error({ err, invocation: d.id }, 'webhook delivery failed in kiln'))),
      );
      if (due.length < BATCH || stopped) return;
    }
  }
  /** Runs a tick unless one runs already (then one more follows it, for what it may have missed). */
  function wake(): void {
    if (stopped) return;
    if (ticking) {
      again = true;
      return;
    }
    ticking = tick()
      .catch((err: unknown) =>
        storeUnavailable(err)
          ? deps.log.warn({ err: String(err) }, 'webhook deliverer: the database does not answer')
          : deps.log.error({ err }, 'webhook deliverer failed'),
      )
      .finally(() => {
        ticking = null;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  return {
    /** The project's signing secret, made on first read. */
    secret: async (project: string) => box.open((await record(project)).sealed, aad(project)),
    async rotate(project: string): Promise<string> {
      await record(project);
      const sealed = box.seal(newSecret(), aad(project));
      await store.rotateWebhookSecret(project, sealed, new Date().toISOString());
      return box.open(sealed, aad(project));
    },
    wake,
    start() {
      timer = setInterval(wake, 1000);
      timer.unref();
      wake();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await ticking;
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
