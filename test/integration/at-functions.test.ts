// AT Protocol's at.functions.run against kiln and the Docker engine: pure-v1 WebAssembly modules
// built from WAT in the test, published on a stand-in PDS and PLC directory on 127.0.0.1, resolved
// and verified by CID, and run inside a Node box within the record's limits.
import wabtInit from 'wabt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInPds, type StandInPds } from '../helpers/at-pds.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
let pds: StandInPds;

/** A module of the pure-v1 ABI whose run(ptr, len) is `body` (ptr and len are locals 0 and 1). */
async function module(body: string, memoryPages = 1): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const wat = `(module
    (memory (export "memory") ${memoryPages})
    (data (i32.const 0) "{\\"sum\\":3}")
    (func (export "alloc") (param i32) (result i32) (i32.const 1024))
    (func (export "run") (param i32 i32) (result i64) ${body}))`;
  return new Uint8Array(wabt.parseWat('fn.wat', wat).toBinary({}).buffer);
}
const packed = (ptr: string, len: string) => `(i64.or (i64.shl (i64.extend_i32_u ${ptr}) (i64.const 32)) (i64.extend_i32_u ${len}))`;

beforeAll(async () => {
  pds = await startStandInPds();
  kiln = await startTestKiln({
    KILN_AT_PLC_URL: `${pds.url}/plc`,
    KILN_AT_ALLOW_ADDRESSES: pds.url.replace('http://', ''),
    KILN_AT_ALLOW_HTTP: 'true',
  });
  // a 100 ms function is timed from a warm box, as a running kiln has them: wait for the pools
  for (let i = 0; i < 300 && (await fetch(`${kiln.url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  await pds.publish('echo', await module(packed('(local.get 0)', '(local.get 1)')));
  await pds.publish('sum', await module(packed('(i32.const 0)', '(i32.const 9)')));
  await pds.publish('loop', await module('(loop $l (br $l)) (i64.const 0)'));
  await pds.publish('hungry', await module(`(drop (memory.grow (i32.const 64))) ${packed('(i32.const 0)', '(i32.const 9)')}`), {
    maxMemoryMb: 1,
  });
  await pds.publish('host', await module(packed('(i32.const 0)', '(i32.const 9)')), { mode: 'host-v1' });
});
afterAll(async () => {
  await kiln?.close();
  pds?.close();
});

const run = (rkey: string, input: unknown = {}) =>
  kiln.post('/xrpc/at.functions.run', { function: `at://${pds.did}/at.functions.metadata/${rkey}`, input });

describe('at.functions.run on the real engine', () => {
  it('runs a verified pure-v1 function in a box and answers with its functionCid', async () => {
    const echo = await run('echo', { hello: 'at', n: [1, 2] });
    expect(echo.status).toBe(200);
    expect(echo.body).toMatchObject({
      ok: true,
      output: { hello: 'at', n: [1, 2] },
      durationMs: expect.any(Number),
      functionCid: expect.stringMatching(/^bafyrei/),
    });
    expect((await run('sum')).body).toMatchObject({ ok: true, output: { sum: 3 } });
    const logged = await kiln.request('GET', '/v1/executions?limit=1');
    expect(logged.body.data[0].details).toMatchObject({ type: 'function', via: 'at', key: { id: null, name: 'env' } });
  });

  it('a function that loops, grows past its memory, or is not pure-v1 is ok: false with why', async () => {
    const loop = await run('loop');
    expect(loop.body).toMatchObject({ ok: false, error: expect.stringMatching(/timed out after 100 ms/) });
    expect((await run('hungry')).body).toMatchObject({ ok: false, error: expect.stringMatching(/memory over the limit/) });
    expect((await run('host')).body).toMatchObject({ ok: false, error: expect.stringMatching(/host-v1.*not supported/) });
  });

  it('refuses a tampered record and answers a bad request as XRPC does', async () => {
    await pds.publish('tampered', await module(packed('(local.get 0)', '(local.get 1)')));
    pds.tamper('tampered', { maxDurationMs: 5000 });
    const res = await run('tampered');
    expect(res.body).toMatchObject({ ok: false, error: expect.stringMatching(/CID does not match/) });
    const bad = await kiln.post('/xrpc/at.functions.run', { function: 'https://example.com/x', input: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'InvalidRequest' });
    const noInput = await kiln.post('/xrpc/at.functions.run', { function: `at://${pds.did}/at.functions.metadata/echo` });
    expect(noInput.body).toMatchObject({ error: 'InvalidRequest', message: expect.stringMatching(/^input/) });
    const web = await kiln.post('/xrpc/at.functions.run', { function: 'at://did:web:10.0.0.1/at.functions.metadata/x', input: {} });
    expect(web.body).toMatchObject({ ok: false, error: expect.stringMatching(/refused/) });
  });
});
