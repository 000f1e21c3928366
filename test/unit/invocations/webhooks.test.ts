// The webhook deliverer's retry schedule on a fake clock: an in-memory store of due deliveries and a
// fake POST stand in for the database and the network. Attempts come at 1 s, 2 s, 4 s… apart, capped
// at an hour, and stop once the next one would fall past retrySeconds; a success ends them. Signing
// and the address policy over real HTTP are in test/unit/invocations.test.ts.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAddressPolicy } from '../../../src/egress/address-policy.js';
import { outboundPost } from '../../../src/egress/outbound.js';
import { createWebhooks } from '../../../src/invocations/webhooks.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';

vi.mock('../../../src/egress/outbound.js', () => ({ outboundPost: vi.fn() }));

type WebhookStore = Parameters<typeof createWebhooks>[0]['store'];
type DueWebhook = Awaited<ReturnType<WebhookStore['dueWebhooks']>>[number];
type WebhookState = DueWebhook['webhook'];

/** The invocations table as far as the deliverer reads and writes it: one row per ended invocation. */
function memoryStore() {
  const rows = new Map<string, DueWebhook>();
  const secrets = new Map<string, any>();
  const store = {
    rows,
    add(id: string, at: Date) {
      rows.set(id, {
        id,
        project: 'proj_a',
        callbackUrl: 'https://receiver.example/hook',
        status: 'finished',
        webhook: { status: 'pending', attempts: 0, nextAt: at.toISOString(), lastError: null, firstAt: null },
      });
    },
    async dueWebhooks(now: string, limit: number) {
      return [...rows.values()]
        .filter((r) => r.webhook.status === 'pending' && r.webhook.nextAt! <= now)
        .sort((a, b) => a.webhook.nextAt!.localeCompare(b.webhook.nextAt!))
        .slice(0, limit)
        .map((r) => structuredClone(r));
    },
    async claimWebhook(id: string, seen: WebhookState, leaseUntil: string) {
      const row = rows.get(id);
      if (row?.webhook.status !== 'pending' || row.webhook.attempts !== seen.attempts || row.webhook.nextAt !== seen.nextAt) return false;
      row.webhook.nextAt = leaseUntil;
      return true;
    },
    async updateWebhook(id: string, state: WebhookState) {
      rows.get(id)!.webhook = { ...state };
    },
    getWebhookSecret: async (project: string) => secrets.get(project) ?? null,
    async ensureWebhookSecret(record: any) {
      if (!secrets.has(record.project)) secrets.set(record.project, record);
      return secrets.get(record.project);
    },
    rotateWebhookSecret: async () => null,
  };
  return store;
}

const posted = vi.mocked(outboundPost);
/** When each POST was made (ms since the test began), and what it carried. */
let attempts: { at: number; headers: Record<string, string>; body: string }[];
let answers: number[];
let epoch: number;

describe('webhook retry schedule (fake clock)', () => {
  let store: ReturnType<typeof memoryStore>;
  let webhooks: ReturnType<typeof createWebhooks> | undefined;

  beforeEach(() => {
    vi.useFakeTimers();
    epoch = Date.now();
    attempts = [];
    answers = [];
    store = memoryStore();
    posted.mockReset();
    posted.mockImplementation(async (_url, body, headers) => {
      attempts.push({ at: Date.now() - epoch, headers, body });
      return { status: answers.shift() ?? 500, contentType: null, body: Buffer.alloc(0), truncated: false };
    });
  });
  afterEach(async () => {
    await webhooks?.stop();
    vi.useRealTimers();
  });

  const start = (retrySeconds: number) => {
    webhooks = createWebhooks({
      store: store as unknown as WebhookStore,
      box: new SecretBox(randomBytes(32)),
      policy: createAddressPolicy({}),
      log: pino({ level: 'silent' }),
      retrySeconds,
      timeoutSeconds: 10,
      render: async (_project, id) => ({ id, status: 'finished' }),
    });
    webhooks.start();
    return webhooks;
  };
  const gaps = () => attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);

  it('retries a failing receiver 1, 2, 4 and 8 s apart, then gives up: the next wait would pass retrySeconds', async () => {
    store.add('exec_1', new Date(epoch));
    start(30);
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts.map((a) => a.at)).toEqual([0]);
    await vi.advanceTimersByTimeAsync(20_000);
    // the fifth failure at 15 s would wait 16 s more: past the 30 s of retries
    expect(attempts.map((a) => a.at)).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(store.rows.get('exec_1')!.webhook).toEqual({
      status: 'failed',
      attempts: 5,
      nextAt: null,
      lastError: 'the receiver answered HTTP 500',
      firstAt: new Date(epoch).toISOString(),
    });
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(attempts).toHaveLength(5);
  });

  it('stops at the first success, every attempt under the same webhook-id and signed at its own time', async () => {
    store.add('exec_2', new Date(epoch));
    answers = [503, 500, 204];
    start(3600);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts.map((a) => a.at)).toEqual([0, 1000, 3000]);
    expect(store.rows.get('exec_2')!.webhook).toMatchObject({ status: 'delivered', attempts: 3, nextAt: null, lastError: null });
    expect(new Set(attempts.map((a) => a.headers['webhook-id']))).toEqual(new Set(['exec_2']));
    expect(attempts.map((a) => Number(a.headers['webhook-timestamp']))).toEqual(
      [0, 1000, 3000].map((ms) => Math.floor((epoch + ms) / 1000)),
    );
    const secret = await webhooks!.secret('proj_a');
    const last = attempts.at(-1)!;
    expect(new Webhook(secret).verify(last.body, last.headers)).toMatchObject({ type: 'execution.ended', data: { id: 'exec_2' } });
  });

  it('doubles the wait up to an hour, and no further', async () => {
    store.add('exec_3', new Date(epoch));
    start(6 * 3600);
    await vi.advanceTimersByTimeAsync(6 * 3600_000);
    const waits = gaps();
    // 1 s, 2 s, … 2048 s: twelve doublings; then an hour at a time
    expect(waits.slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, i) => 1000 * 2 ** i));
    expect(waits.slice(12)).toEqual(waits.slice(12).map(() => 3600_000));
    expect(waits.length).toBeGreaterThan(13);
    expect(store.rows.get('exec_3')!.webhook.status).toBe('failed');
  });

  it('takes a delivery that is due only once while its attempt is out (the lease), then follows the schedule', async () => {
    store.add('exec_4', new Date(epoch));
    let release: (status: number) => void = () => {};
    posted.mockImplementationOnce(async (_url, body, headers) => {
      attempts.push({ at: Date.now() - epoch, headers, body });
      const status = await new Promise<number>((resolve) => {
        release = resolve;
      });
      return { status, contentType: null, body: Buffer.alloc(0), truncated: false };
    });
    start(3600);
    // a receiver that takes 5 s to answer: no second attempt meanwhile
    await vi.advanceTimersByTimeAsync(5000);
    expect(attempts).toHaveLength(1);
    release(500);
    await vi.advanceTimersByTimeAsync(0);
    expect(store.rows.get('exec_4')!.webhook).toMatchObject({ status: 'pending', attempts: 1 });
    // the wait is counted from the failure (at 5 s), not from the attempt
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts.map((a) => a.at)).toEqual([0, 6000]);
  });
});
