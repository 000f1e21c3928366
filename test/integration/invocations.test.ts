// Async invocations across a real crash: kiln is SIGKILLed while one runs and two wait; a new kiln
// on the same data directory ends the running one `interrupted` (at most once), runs the queued
// ones, and posts every ending to a webhook receiver that verifies it with standardwebhooks.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE, TEST_KEY, untilExecution } from '../helpers/kiln.js';
import { spawnKiln, type KilnProcess } from '../helpers/kiln-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

let receiver: WebhookReceiver;
let port: number;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  port = receiver.port;
});
afterAll(() => receiver.close());

async function submit(kiln: KilnProcess, body: object): Promise<string> {
  const res = await fetch(`${kiln.url}/v1/execute`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify({ ...body, callback_url: `http://127.0.0.1:${port}/hook` }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const until = (kiln: KilnProcess, id: string, done: (v: any) => boolean, ms?: number) => untilExecution(kiln.url, id, done, ms);

describe('async invocations on the real engine', () => {
  it('cancel stops a running box: the execution ends with stop_reason cancelled, long before its timeout', {
    timeout: 120_000,
  }, async () => {
    const kiln = await spawnKiln({
      KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-inv-')),
      KILN_INSTANCE: `${TEST_INSTANCE}-cancel`,
      KILN_POOL_JAVASCRIPT: '1',
      KILN_POOL_PYTHON: '0',
      KILN_POOL_TYPESCRIPT: '0',
    });
    try {
      const id = await submit(kiln, {
        language: 'javascript',
        code: 'console.log("up"); setInterval(() => {}, 1000);',
        limits: { execution_timeout: 60 },
      });
      await until(kiln, id, (v) => v.status === 'running');
      const started = Date.now();
      const cancel = await call(kiln.url, 'POST', `/v1/executions/${id}/cancel`);
      expect(cancel.status).toBe(200);
      const ended = await until(kiln, id, (v) => v.status === 'cancelled', 30_000);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(ended.details.response).toMatchObject({ stop_reason: 'cancelled' });
      expect(ended.details.response.stderr).toContain('it was cancelled');
    } finally {
      await kiln.stop();
    }
  });
});

describe('async invocations across a crash', () => {
  it('a SIGKILLed kiln: the running one ends interrupted, the queued ones run after the restart, every ending is posted', {
    timeout: 180_000,
  }, async () => {
    const env = {
      KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-inv-')),
      KILN_INSTANCE: `${TEST_INSTANCE}-inv`,
      KILN_ASYNC_CONCURRENCY: '1',
      KILN_POOL_PYTHON: '1',
      KILN_POOL_JAVASCRIPT: '0',
      KILN_POOL_TYPESCRIPT: '0',
      KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${port}`,
    };
    const first = await spawnKiln(env);
    let running: string, queued: string[];
    try {
      running = await submit(first, { language: 'python', code: 'import time\nprint("started", flush=True)\ntime.sleep(60)' });
      queued = [
        await submit(first, { language: 'python', code: 'print("after the crash")' }),
        await submit(first, { language: 'javascript', code: 'console.log(6 * 7)' }),
      ];
      await until(first, running, (v) => v.status === 'running');
      expect((await call(first.url, 'GET', `/v1/executions/${queued[0]}`)).body.status).toBe('queued');
    } finally {
      await first.kill();
    }

    const second = await spawnKiln(env);
    try {
      const interrupted = await until(second, running, (v) => v.status !== 'running');
      expect(interrupted).toMatchObject({ status: 'interrupted', reason: expect.stringContaining('at most once') });
      const [a, b] = await Promise.all(queued.map((id) => until(second, id, (v) => v.status === 'finished')));
      expect(a.details.response).toMatchObject({ exit_code: 0, stdout: 'after the crash\n' });
      expect(b.details.response).toMatchObject({ exit_code: 0, stdout: '42\n' });

      const { body: secret } = await call(second.url, 'GET', '/v1/webhooks/secret');
      for (const id of [running, ...queued]) await until(second, id, (v) => v.webhook?.status === 'delivered');
      const verified = receiver.received.map(
        (h) => new Webhook(secret.secret).verify(h.body, h.headers) as { data: { id: string; status: string } },
      );
      const byId = new Map(verified.map((p) => [p.data.id, p.data.status]));
      expect(byId.get(running)).toBe('interrupted');
      expect(byId.get(queued[0]!)).toBe('finished');
      expect(byId.get(queued[1]!)).toBe('finished');
    } finally {
      await second.stop();
    }
  });
});
