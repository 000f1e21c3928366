// What an AT caller (possibly anonymous) learns when a DID's host or its PDS is out of reach: the
// host it named and that the address policy refused it, never the address kiln's resolver gave
// (that goes to kiln's log). Names resolve through the policy's overrides; traffic stays on 127.0.0.1.
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAtResolver, ResolveError } from '../../../src/at/resolve.js';
import { createAddressPolicy } from '../../../src/egress/address-policy.js';

const DID = 'did:plc:abcdefghijklmnopqrstuvwx';
let plc: http.Server;
let port: number;
let closedPort: number;

beforeAll(async () => {
  // a PLC directory whose DID names a PDS by a host name
  plc = http.createServer((_req, res) => {
    res.end(
      JSON.stringify({
        id: DID,
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: `http://pds.internal.test:${port}` }],
      }),
    );
  });
  await new Promise<void>((r) => plc.listen(0, '127.0.0.1', () => r()));
  port = (plc.address() as AddressInfo).port;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
});
afterAll(() => plc.close());

function resolver() {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
  // 127.0.0.2 is refused (only the directory's port on 127.0.0.1 is open), and never connected to
  const policy = createAddressPolicy({
    allow: `127.0.0.1:${port},127.0.0.1:${closedPort}`,
    resolve: { 'pds.internal.test': '127.0.0.2', 'vm.test': '127.0.0.1', 'closed.test': '127.0.0.1' },
  });
  return { lines, resolver: createAtResolver({ policy, plcUrl: `http://127.0.0.1:${port}/plc`, allowHttp: true, timeoutMs: 5000, log }) };
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('AT resolution refused by the address policy', () => {
  it('a PDS by a name that resolves to a refused address: the host and the setting, the address in the log only', async () => {
    const { resolver: r, lines } = resolver();
    const err = await failure(r.resolve(`at://${DID}/at.functions.metadata/add`));
    expect(err).toBeInstanceOf(ResolveError);
    expect((err as ResolveError).message).toBe(
      `http://pds.internal.test:${port}: the address policy refused pds.internal.test (a private, loopback or reserved address; KILN_AT_ALLOW_ADDRESSES allows one)`,
    );
    expect((err as ResolveError).invalidRequest).toBe(false);
    const logged = lines.map((l) => JSON.parse(l) as { host?: string; why?: string }).find((l) => l.host === 'pds.internal.test');
    expect(logged?.why).toContain('127.0.0.2');
  });

  it("a did:web whose host name resolves to this host's address: no address in the answer", async () => {
    const err = (await failure(resolver().resolver.resolve('at://did:web:vm.test/at.functions.metadata/x'))) as ResolveError;
    expect(err.message).toMatch(/^https:\/\/vm\.test: the address policy refused vm\.test \(.*KILN_AT_ALLOW_ADDRESSES allows one\)$/);
    expect(err.message).not.toContain('127.0.0.1');
  });

  it('a connection refused at an allowed name says so by its code, without the address it tried', async () => {
    const err = (await failure(
      resolver().resolver.resolve(`at://did:web:closed.test%3A${closedPort}/at.functions.metadata/x`),
    )) as ResolveError;
    expect(err.message).toBe(`https://closed.test:${closedPort}: ECONNREFUSED`);
  });
});
