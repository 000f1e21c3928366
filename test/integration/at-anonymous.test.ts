// Anonymous at.functions.run (KILN_XRPC_PUBLIC, issue 20 item 3): calls without a key run in a
// project of their own, never a key's, which logs the function's URI and CID rather than its
// module, keeps its own retention, and holds at most its share of kiln's boxes at once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { startStandInPds, type StandInPds } from '../helpers/at-pds.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';
import { openStoreOf } from '../helpers/store-of.js';

let kiln: TestKiln;
let pds: StandInPds;
let store: Store;
const dataDir = mkdtempSync(join(tmpdir(), 'kiln-at-anon-'));

/** A pure-v1 module answering `{"sum":3}`, carrying `padding` bytes of data (a module's size is the caller's choice). */
async function module(padding: number, body = '(i64.or (i64.shl (i64.const 0) (i64.const 32)) (i64.const 9))'): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const pages = Math.ceil((padding + 4096) / 65536) + 1;
  const wat = `(module (memory (export "memory") ${pages})
    (data (i32.const 0) "{\\"sum\\":3}") (data (i32.const 4096) "${'k'.repeat(padding)}")
    (func (export "alloc") (param i32) (result i32) (i32.const 1024))
    (func (export "run") (param i32 i32) (result i64) ${body}))`;
  return new Uint8Array(wabt.parseWat('fn.wat', wat).toBinary({}).buffer);
}

beforeAll(async () => {
  pds = await startStandInPds();
  kiln = await startTestKiln({
    KILN_DATA_DIR: dataDir,
    KILN_XRPC_PUBLIC: 'true',
    KILN_XRPC_PUBLIC_CONCURRENCY: '1',
    KILN_AT_PLC_URL: `${pds.url}/plc`,
    KILN_AT_ALLOW_ADDRESSES: pds.url.replace('http://', ''),
    KILN_AT_ALLOW_HTTP: 'true',
  });
  store = await openStoreOf(dataDir);
  // a megabyte of module takes longer than the default 100 ms to compile in a box
  await pds.publish('big', await module(1024 * 1024), { maxDurationMs: 5000 });
  await pds.publish('slow', await module(16, '(loop $l (br $l)) (i64.const 0)'), { maxDurationMs: 3000 });
}, 120_000);
afterAll(async () => {
  await store?.close();
  await kiln?.close();
  pds?.close();
});

const uri = (rkey: string) => `at://${pds.did}/at.functions.metadata/${rkey}`;
const anonymous = (rkey: string) =>
  fetch(`${kiln.url}/xrpc/at.functions.run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ function: uri(rkey), input: {} }),
  });

describe('anonymous at.functions.run', () => {
  it("runs in its own project, logged by URI and CID, never in a key's log", async () => {
    const res = await anonymous('big');
    const body = (await res.json()) as { ok: boolean; functionCid: string; output: unknown };
    expect(res.status).toBe(200);
    expect(body, JSON.stringify(body)).toMatchObject({ ok: true, output: { sum: 3 } });

    const keyed = await kiln.request('GET', '/v1/executions?limit=100');
    expect(keyed.body.data.filter((e: { details: { via: string } }) => e.details.via === 'at')).toEqual([]);
    const [logged] = await store.executions.list('xrpc-public', { limit: 10 });
    expect(logged).toMatchObject({
      via: 'at',
      project: 'xrpc-public',
      request: { function: uri('big'), function_cid: body.functionCid, code: '' },
    });
    // the module is over 1 MiB; its row holds its name
    expect(JSON.stringify(logged).length).toBeLessThan(10_000);

    // a key's call runs in the key's project, as before
    const mine = await kiln.post('/xrpc/at.functions.run', { function: uri('big'), input: {} });
    expect(mine.body).toMatchObject({ ok: true });
    expect((await kiln.request('GET', '/v1/executions?limit=1')).body.data[0].details).toMatchObject({
      via: 'at',
      request: { function: uri('big') },
    });
  }, 60_000);

  it('holds at most its share of boxes at once: past it, 429 with Retry-After at once', async () => {
    const first = anonymous('slow');
    await new Promise((r) => setTimeout(r, 500));
    const started = performance.now();
    const second = await anonymous('slow');
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await second.json()).toMatchObject({ error: 'RateLimitExceeded' });
    expect(performance.now() - started).toBeLessThan(1000); // refused, not queued
    // a key's calls are not in that share
    const keyed = await kiln.post('/xrpc/at.functions.run', { function: uri('big'), input: {} });
    expect(keyed.status).toBe(200);
    const done = await first;
    expect(await done.json()).toMatchObject({ ok: false, error: expect.stringMatching(/timed out/) });
    expect((await anonymous('big')).status).toBe(200); // the place is free again
  }, 60_000);
});
