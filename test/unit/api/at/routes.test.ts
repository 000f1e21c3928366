// POST /xrpc/at.functions.run's HTTP side: auth by key or KILN_XRPC_PUBLIC, XRPC's error shape.
// (Runs of real modules are in test/integration/at-functions.test.ts.)
import { describe, expect, it } from 'vitest';
import { API_KEY, buildTestApp } from '../../../helpers/app-fixture.js';

const call = (app: Awaited<ReturnType<typeof buildTestApp>>, body: string, key?: string) =>
  app.app.request('/xrpc/at.functions.run', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body,
  });

describe('/xrpc/at.functions.run', () => {
  it('needs a key unless KILN_XRPC_PUBLIC, and a wrong key is refused either way', async () => {
    const closed = await buildTestApp();
    const refused = await call(closed, '{"function":"x","input":1}');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'AuthenticationRequired' });
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);

    const open = await buildTestApp({ env: { KILN_XRPC_PUBLIC: 'true' } });
    const keyless = await call(open, '{"function":"https://example.com/x","input":1}');
    expect(keyless.status).toBe(400); // past auth, to the body's check
    expect(await keyless.json()).toMatchObject({ error: 'InvalidRequest', message: expect.stringMatching(/^function: /) });
    expect((await call(open, '{"function":"x","input":1}', 'not-a-key-of-this-kiln')).status).toBe(401);
  });

  it('answers every bad body with InvalidRequest naming what is wrong', async () => {
    const app = await buildTestApp();
    for (const [body, message] of [
      ['{nope', /not JSON/],
      ['[1]', /an object/],
      ['{"input":1}', /^function: required/],
      ['{"function":"at://did:plc:abcdefghijklmnopqrstuvwx/at.functions.metadata/x"}', /^input: required/],
      ['{"function":"at://did:web:%zz/at.functions.metadata/x","input":1}', /did:web/],
    ] as const) {
      const res = await call(app, body, API_KEY);
      expect(res.status, body).toBe(400);
      expect(await res.json(), body).toMatchObject({ error: 'InvalidRequest', message: expect.stringMatching(message) });
    }
  });
});
