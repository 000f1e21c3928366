// Host names that resolve to an address kiln's policy refuses (KILN_EGRESS_RESOLVE maps them to
// 127.0.0.x without DNS), on each path kiln connects for a caller: a webhook is failed after one
// attempt, an iii function is url_validation_failed, an AT function is ok: false; each answer names
// the host and the setting that allows it, never the address (that is in kiln's log). Nothing is
// ever sent: the receivers below count what reaches them.
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE, TEST_KEY, untilExecution } from '../helpers/kiln.js';
import { spawnKiln, type KilnProcess } from '../helpers/kiln-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const DID = 'did:plc:refusedrefusedrefusedref';
let receiver: WebhookReceiver;
let plc: http.Server;
let plcPort: number;
let kiln: KilnProcess;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  // a PLC directory (allowed) whose DID names its PDS by a host name that resolves to a refused address
  plc = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        id: DID,
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: `http://pds.refused.test:${plcPort}` }],
      }),
    );
  });
  await new Promise<void>((r) => plc.listen(0, '127.0.0.1', () => r()));
  plcPort = (plc.address() as AddressInfo).port;
  kiln = await spawnKiln({
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-refusals-')),
    KILN_INSTANCE: `${TEST_INSTANCE}-refusals`,
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_PYTHON: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_EGRESS_RESOLVE: JSON.stringify({
      'hooks.refused.test': '127.0.0.1',
      'fn.refused.test': '127.0.0.1',
      'vm.refused.test': '127.0.0.1',
      'pds.refused.test': '127.0.0.2',
    }),
    KILN_FUNCTIONS_ALLOW_HTTP: 'true',
    KILN_AT_PLC_URL: `http://127.0.0.1:${plcPort}/plc`,
    KILN_AT_ALLOW_ADDRESSES: `127.0.0.1:${plcPort}`,
    KILN_AT_ALLOW_HTTP: 'true',
    KILN_XRPC_PUBLIC: 'true',
  });
});
afterAll(async () => {
  await kiln?.stop();
  receiver?.close();
  plc?.close();
});

const refusedBy = (host: string, setting: string) =>
  `the address policy refused ${host} (a private, loopback or reserved address; ${setting} allows one)`;

/** kiln's log line about `host`'s refusal (its log is written asynchronously). */
async function loggedRefusal(host: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const line = kiln
      .output()
      .split('\n')
      .find((l) => l.includes(`"host":"${host}"`) && l.includes('"why"'));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  return '';
}

const until = (id: string, done: (v: any) => boolean, ms?: number) => untilExecution(kiln.url, id, done, ms);

describe('a host name that resolves to a refused address', () => {
  it('fails a webhook after exactly one attempt, its last_error naming the host and not the address', { timeout: 90_000 }, async () => {
    const res = await fetch(`${kiln.url}/v1/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({
        language: 'javascript',
        code: 'console.log(1)',
        callback_url: `http://hooks.refused.test:${receiver.port}/hook`,
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await until(id, (v) => v.webhook?.attempts >= 1);
    // a retry would follow 1 s, then 2 s later: none may come
    await new Promise((r) => setTimeout(r, 3500));
    const { body } = await call(kiln.url, 'GET', `/v1/executions/${id}`);
    expect(body.webhook).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: refusedBy('hooks.refused.test', 'KILN_WEBHOOK_ALLOW_ADDRESSES'),
    });
    expect(receiver.received).toHaveLength(0);
    expect(await loggedRefusal('hooks.refused.test')).toContain('127.0.0.1');
  });

  it('answers an iii function call url_validation_failed, naming the host and not the address', async () => {
    const id = `refused.by_name_${Date.now()}`;
    const registered = await call(kiln.url, 'POST', '/v1/functions', {
      type: 'registerfunction',
      id,
      invocation: { url: `http://fn.refused.test:${receiver.port}/ok` },
    });
    expect(registered.status).toBe(200);
    const invoked = await call(kiln.url, 'POST', `/v1/functions/${id}/invoke`, { data: {} });
    expect(invoked.status).toBe(200);
    expect(invoked.body.error).toEqual({
      code: 'url_validation_failed',
      message: refusedBy('fn.refused.test', 'KILN_FUNCTIONS_ALLOW_ADDRESSES'),
    });
    expect(receiver.received).toHaveLength(0);
    expect(await loggedRefusal('fn.refused.test')).toContain('127.0.0.1');
  });

  it("tells an anonymous XRPC caller which did:web or PDS host was refused, never what kiln's resolver answered", async () => {
    const xrpc = async (fn: string) => {
      const res = await fetch(`${kiln.url}/xrpc/at.functions.run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ function: fn, input: {} }),
      });
      return { status: res.status, body: (await res.json()) as { ok: boolean; error: string } };
    };
    const web = await xrpc('at://did:web:vm.refused.test/at.functions.metadata/x');
    expect(web).toMatchObject({
      status: 200,
      body: { ok: false, error: `https://vm.refused.test: ${refusedBy('vm.refused.test', 'KILN_AT_ALLOW_ADDRESSES')}` },
    });
    expect(web.body.error).not.toMatch(/127\.0\.0\.1|this host|loopback address/);
    const pds = await xrpc(`at://${DID}/at.functions.metadata/x`);
    expect(pds).toMatchObject({
      status: 200,
      body: { ok: false, error: `http://pds.refused.test:${plcPort}: ${refusedBy('pds.refused.test', 'KILN_AT_ALLOW_ADDRESSES')}` },
    });
    expect(pds.body.error).not.toContain('127.0.0.2');
  });
});
