// kiln's own outbound requests (webhooks, iii functions, AT fetches): a refusal of the address
// policy is a RefusedAddress however it arises (an address literal, or a name whose address is
// refused, over http or https), and nothing else is. Traffic goes to 127.0.0.1 only.
import http from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy, RefusedAddress, type AddressPolicy } from '../../../src/egress/address-policy.js';
import { outboundPost } from '../../../src/egress/outbound.js';

let receiver: http.Server;
let port: number;
let hits = 0;
let closed: Server;
let closedPort: number;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  port = (receiver.address() as AddressInfo).port;
  // a port nobody listens on: bound, then closed, so a connection to it is refused by the kernel
  closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
});
afterAll(() => receiver.close());

const resolve = { 'hooks.test': '127.0.0.1', 'compat.test': '::7f00:1' };
const strict = (): AddressPolicy => createAddressPolicy({ resolve });
const post = (url: string, policy: AddressPolicy) =>
  outboundPost(new URL(url), '{}', { 'content-type': 'application/json' }, policy, { timeoutMs: 2000, maxResponseBytes: 1024 });
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => err,
  );

describe('outboundPost', () => {
  it.each([
    ['http://hooks.test:PORT/h', 'hooks.test'],
    ['https://hooks.test:PORT/h', 'hooks.test'],
    ['http://127.0.0.1:PORT/h', '127.0.0.1'],
    ['https://127.0.0.1:PORT/h', '127.0.0.1'],
    ['http://compat.test:PORT/h', 'compat.test'],
    ['http://[::127.0.0.1]:PORT/h', '::7f00:1'],
  ])('rejects %s with a RefusedAddress for %s, sending nothing', async (url, host) => {
    const before = hits;
    const err = await rejection(post(url.replace('PORT', String(port)), strict()));
    expect(err).toBeInstanceOf(RefusedAddress);
    expect(err).toMatchObject({ host });
    expect(hits).toBe(before);
  });

  it('keeps the resolved address out of the message (it is in `why`, for the log)', async () => {
    const err = (await rejection(post(`http://hooks.test:${port}/h`, strict()))) as RefusedAddress;
    expect(err.message).toBe('the address policy refused hooks.test (a private, loopback or reserved address)');
    expect(err.why).toContain('127.0.0.1');
  });

  it('a connection refused at an allowed address is a network failure, not a refusal of the policy', async () => {
    const err = await rejection(post(`http://127.0.0.1:${closedPort}/h`, createAddressPolicy({ allow: `127.0.0.1:${closedPort}` })));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(RefusedAddress);
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  // an allowed embedded form is connected to as the IPv4 address the policy checked (this host
  // would route ::7f00:1 to its IPv6 gateway, off the machine): the loopback receiver answers
  it.each([`http://[::127.0.0.1]:PORT/h`, 'http://compat.test:PORT/h'])(
    'connects %s to 127.0.0.1, where the policy looked',
    async (url) => {
      const before = hits;
      const answer = await post(url.replace('PORT', String(port)), createAddressPolicy({ allow: `127.0.0.1:${port}`, resolve }));
      expect(answer).toMatchObject({ status: 200 });
      expect(hits).toBe(before + 1);
    },
  );

  it('posts to a name the policy allows', async () => {
    const answer = await post(`http://hooks.test:${port}/h`, createAddressPolicy({ allow: `127.0.0.1:${port}`, resolve }));
    expect(answer).toMatchObject({ status: 200, truncated: false });
    expect(answer.body.toString()).toBe('ok');
  });
});
