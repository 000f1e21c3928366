// Async invocations and their webhooks over the real app and store, with a fake runner; webhooks
// go to a receiver on 127.0.0.1 that verifies them with the reference library (standardwebhooks).
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import type { Job, RunJob } from '../../../src/sandbox/job.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { buildTestApp, fakeResult, PROJECT_B_KEY, type ErrorBody } from '../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;
const fn = { language: 'python', code: 'def execute(input):\n    return input\n', input: { a: 1 } };

const asyncPost = (app: App, path: string, body: unknown, key?: string) =>
  app.app.request(path, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${key ?? 'unit-test-key-0123456789abcdef'}`,
      'Content-Type': 'application/json',
      Prefer: 'respond-async',
    },
    body: JSON.stringify(body),
  });

/** Polls GET /v1/executions/{id} until `done` says so (bounded). */
async function waitFor(app: App, id: string, done: (view: any) => boolean, ms = 10_000): Promise<any> {
  const until = Date.now() + ms;
  for (;;) {
    const view = await (await app.request('GET', `/v1/executions/${id}`)).json();
    if (done(view)) return view;
    if (Date.now() > until) throw new Error(`timed out; last: ${JSON.stringify(view)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A runner whose runs wait until released, or until their cancel signal fires. */
function heldRunner() {
  const releases: (() => void)[] = [];
  const runJob: RunJob = (job: Job) =>
    new Promise((resolve) => {
      const finish = (stopReason: 'exited' | 'cancelled') =>
        resolve({ ...fakeResult(job), stopReason, exitCode: stopReason === 'exited' ? 0 : 137 });
      releases.push(() => finish('exited'));
      job.cancel?.addEventListener('abort', () => finish('cancelled'));
    });
  return {
    runJob,
    releaseAll: () => {
      for (const r of releases.splice(0)) r();
    },
  };
}

describe('async invocations', () => {
  it('answers 202 with Location once stored; the execution finishes with the synchronous answer', async () => {
    const app = await buildTestApp();
    const res = await asyncPost(app, '/v1/execute-function', fn);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body.status).toBe('queued');
    expect(res.headers.get('location')).toBe(`/v1/executions/${body.id}`);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    const view = await waitFor(app, body.id, (v) => v.status === 'finished');
    expect(view).toMatchObject({
      id: body.id,
      details: {
        type: 'function',
        via: 'api',
        response: { output: { echoed: { a: 1 } }, output_status: 'valid', execution: { id: body.id } },
      },
    });
    expect(app.jobs.map((j) => j.id)).toEqual([body.id]);

    const script = await asyncPost(app, '/v1/execute', { language: 'javascript', code: 'console.log(1)', stdin: 'x' });
    const sid = ((await script.json()) as { id: string }).id;
    expect(await waitFor(app, sid, (v) => v.status === 'finished')).toMatchObject({
      details: { type: 'script', response: { id: sid, stdout: 'ran javascript script' } },
    });
  });

  it('checks the request before accepting it: a bad one is a 400 naming the field, and nothing is stored', async () => {
    const app = await buildTestApp();
    const tool = (await (
      await app.request('POST', '/v1/tools', {
        name: 't',
        language: 'python',
        code: 'c',
        input_schema: { type: 'object', properties: { n: { type: 'integer' } } },
      })
    ).json()) as { id: string };
    const cases: [string, unknown, string][] = [
      [`/v1/tools/${tool.id}/execute`, { input: { n: 'x' } }, 'input.n'],
      ['/v1/tools/tool_000000000000000000000000/execute', { input: {} }, 'id'],
      ['/v1/execute-function', { ...fn, limits: { execution_timeout: 100_000 } }, 'limits.execution_timeout'],
      ['/v1/execute-function', { ...fn, callback_url: 'ftp://x' }, 'callback_url'],
    ];
    for (const [path, body, field] of cases) {
      const res = await asyncPost(app, path, body);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(
        ((await res.json()) as ErrorBody).details?.map((d) => d.field),
        path,
      ).toContain(field);
    }
    const sync = await app.request('POST', '/v1/execute-function', { ...fn, callback_url: 'https://hooks.example/x' });
    expect(sync.status).toBe(400);
    expect(((await sync.json()) as ErrorBody).details?.[0]).toMatchObject({ field: 'callback_url', reason: 'needs_async' });
    expect(app.jobs).toHaveLength(0);
    expect(await app.store.invocations.queuedIds(10)).toEqual([]);
  });

  it('runs a tool at the revision it had when accepted', async () => {
    const { runJob, releaseAll } = heldRunner();
    const app = await buildTestApp({ runJob, env: { KILN_ASYNC_CONCURRENCY: '1' } });
    const tool = (await (await app.request('POST', '/v1/tools', { name: 't', language: 'python', code: 'v1' })).json()) as { id: string };
    const blocker = ((await (await asyncPost(app, '/v1/execute', { language: 'python', code: 'block' })).json()) as { id: string }).id;
    const queued = ((await (await asyncPost(app, `/v1/tools/${tool.id}/execute`, { input: 1 })).json()) as { id: string }).id;
    await app.request('POST', `/v1/tools/${tool.id}`, { code: 'v2' });
    await waitFor(app, blocker, (v) => v.status === 'running');
    releaseAll();
    await waitFor(app, queued, (v) => v.status !== 'queued');
    releaseAll();
    await waitFor(app, queued, (v) => v.status === 'finished');
    expect(app.jobs.at(-1)).toMatchObject({ id: queued, code: 'v1' });
  });

  it('cancels a queued invocation (it never runs) and stops a running one (stop_reason cancelled)', async () => {
    const { runJob, releaseAll } = heldRunner();
    const app = await buildTestApp({ runJob, env: { KILN_ASYNC_CONCURRENCY: '1' } });
    const running = ((await (await asyncPost(app, '/v1/execute', { language: 'python', code: 'a' })).json()) as { id: string }).id;
    const queued = ((await (await asyncPost(app, '/v1/execute', { language: 'python', code: 'b' })).json()) as { id: string }).id;
    await waitFor(app, running, (v) => v.status === 'running');
    const other = await app.request('POST', `/v1/executions/${queued}/cancel`, undefined, PROJECT_B_KEY);
    expect(other.status).toBe(404); // another project's: missing
    const c1 = await app.request('POST', `/v1/executions/${queued}/cancel`);
    expect(await c1.json()).toMatchObject({ id: queued, status: 'cancelled', reason: 'cancelled before it ran' });
    await app.request('POST', `/v1/executions/${running}/cancel`);
    const stopped = await waitFor(app, running, (v) => v.status === 'cancelled');
    expect(stopped.details.response.stop_reason).toBe('cancelled');
    releaseAll();
    await new Promise((r) => setTimeout(r, 100));
    expect(app.jobs.map((j) => j.code)).toEqual(['a']); // b never ran
    const sync = app.request('POST', '/v1/execute', { language: 'python', code: 'c' });
    while (app.jobs.length < 2) await new Promise((r) => setTimeout(r, 10));
    releaseAll();
    expect((await sync).status).toBe(200);
  });

  it('runs an invocation the engine could not start once it can: queued again, then finished', async () => {
    let calls = 0;
    const runJob: RunJob = async (job) => {
      if (calls++ === 0)
        throw new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine is unreachable; retry when it is back', [
          { reason: 'docker_unavailable' },
        ]);
      return fakeResult(job);
    };
    const app = await buildTestApp({ runJob });
    const id = ((await (await asyncPost(app, '/v1/execute-function', fn)).json()) as { id: string }).id;
    await waitFor(app, id, () => calls === 1);
    expect((await waitFor(app, id, (v) => v.status === 'queued')).status).toBe('queued');
    const done = await waitFor(app, id, (v) => v.status === 'finished', 15_000);
    expect(done.details.response.output_status).toBe('valid');
    expect(calls).toBe(2);
  }, 20_000);

  it("hides another project's invocations", async () => {
    const app = await buildTestApp();
    const id = ((await (await asyncPost(app, '/v1/execute-function', fn)).json()) as { id: string }).id;
    await waitFor(app, id, (v) => v.status === 'finished');
    expect((await app.request('GET', `/v1/executions/${id}`, undefined, PROJECT_B_KEY)).status).toBe(404);
  });
});

describe('webhooks', () => {
  let receiver: WebhookReceiver;
  let port: number;
  let received: WebhookReceiver['received'];
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    ({ port, received } = receiver);
  });
  afterAll(() => receiver.close());

  it('delivers a signed webhook that standardwebhooks verifies; retried after a failure with the same webhook-id', async () => {
    const app = await buildTestApp({ env: { KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${port}` } });
    const { secret } = (await (await app.request('GET', '/v1/webhooks/secret')).json()) as { secret: string };
    expect(secret).toMatch(/^whsec_/);
    expect(((await (await app.request('GET', '/v1/webhooks/secret')).json()) as { secret: string }).secret).toBe(secret);
    expect(
      ((await (await app.request('GET', '/v1/webhooks/secret', undefined, PROJECT_B_KEY)).json()) as { secret: string }).secret,
    ).not.toBe(secret);
    receiver.failNext(1);
    received.length = 0;
    const id = (
      (await (await asyncPost(app, '/v1/execute-function', { ...fn, callback_url: `http://127.0.0.1:${port}/hook` })).json()) as {
        id: string;
      }
    ).id;
    const view = await waitFor(app, id, (v) => v.webhook?.status === 'delivered');
    expect(view.webhook).toMatchObject({ url: `http://127.0.0.1:${port}/hook`, attempts: 2 });
    expect(received).toHaveLength(2);
    expect(received[0]!.headers['webhook-id']).toBe(id);
    expect(received[1]!.headers['webhook-id']).toBe(id);
    const last = received[1]!;
    const payload = new Webhook(secret).verify(last.body, last.headers) as {
      type: string;
      data: { id: string; status: string; details: { response: unknown } };
    };
    expect(payload).toMatchObject({
      type: 'execution.ended',
      data: { id, status: 'finished', details: { response: { output: { echoed: { a: 1 } } } } },
    });
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(last.body, last.headers)).toThrow();
  });

  it('after a rotation, signs with the new secret and, for a while, the previous one', async () => {
    const app = await buildTestApp({ env: { KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${port}` } });
    const old = ((await (await app.request('GET', '/v1/webhooks/secret')).json()) as { secret: string }).secret;
    const rotated = ((await (await app.request('POST', '/v1/webhooks/secret/rotate')).json()) as { secret: string }).secret;
    expect(rotated).not.toBe(old);
    received.length = 0;
    const id = (
      (await (
        await asyncPost(app, '/v1/execute', { language: 'python', code: 'x', callback_url: `http://127.0.0.1:${port}/h` })
      ).json()) as { id: string }
    ).id;
    await waitFor(app, id, (v) => v.webhook?.status === 'delivered');
    const hook = received.at(-1)!;
    for (const s of [old, rotated]) expect(() => new Webhook(s).verify(hook.body, hook.headers)).not.toThrow();
  });

  it('refuses a callback to an address the policy forbids: failed with the reason, never sent', async () => {
    const app = await buildTestApp(); // no KILN_WEBHOOK_ALLOW_ADDRESSES
    received.length = 0;
    const id = (
      (await (await asyncPost(app, '/v1/execute-function', { ...fn, callback_url: `http://127.0.0.1:${port}/hook` })).json()) as {
        id: string;
      }
    ).id;
    const view = await waitFor(app, id, (v) => v.webhook?.status === 'failed');
    expect(view.webhook.last_error).toMatch(/^the address policy refused 127\.0\.0\.1 .*KILN_WEBHOOK_ALLOW_ADDRESSES/);
    expect(received).toHaveLength(0);
  });

  it('refuses a callback whose host name resolves to a forbidden address: failed after one attempt, the address left out', async () => {
    const app = await buildTestApp({ env: { KILN_EGRESS_RESOLVE: JSON.stringify({ 'hooks.internal.test': '127.0.0.1' }) } });
    received.length = 0;
    const id = (
      (await (await asyncPost(app, '/v1/execute-function', { ...fn, callback_url: `http://hooks.internal.test:${port}/hook` })).json()) as {
        id: string;
      }
    ).id;
    const view = await waitFor(app, id, (v) => v.webhook?.status === 'failed');
    expect(view.webhook.attempts).toBe(1);
    expect(view.webhook.last_error).toBe(
      'the address policy refused hooks.internal.test (a private, loopback or reserved address; KILN_WEBHOOK_ALLOW_ADDRESSES allows one)',
    );
    expect(received).toHaveLength(0);
  });
});
