// Where the egress proxy may connect: decided by rules, tested without sending a packet.
import { describe, expect, it } from 'vitest';
import {
  createAddressPolicy,
  parseAllowList,
  RefusedAddress,
  refusal,
  safeLookup,
  type AddressPolicy,
} from '../../../src/egress/address-policy.js';

const policy = (allow = '', own: string[] = []): AddressPolicy => ({ ...createAddressPolicy({ allow }), own: new Set(own) });

describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], // cloud metadata
    ['100.100.100.200', 'carrierGradeNat'], // Alibaba's metadata
    ['fd00:ec2::254', 'uniqueLocal'], // AWS metadata over IPv6
    ['fe80::1', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:127.0.0.1', 'loopback'], // IPv4-mapped must not slip past
    ['::ffff:169.254.169.254', 'linkLocal'],
  ])('refuses %s (%s)', (address, range) => {
    expect(refusal(address, 443, policy())).toContain(range);
  });

  it.each(['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111'])('lets %s through', (address) => {
    expect(refusal(address, 443, policy())).toBeNull();
  });

  it('refuses platform endpoints that look public, and what the operator denies', () => {
    expect(refusal('168.63.129.16', 80, policy())).toContain('deny list');
    const p = { ...createAddressPolicy({ deny: '93.184.216.0/24' }), own: new Set<string>() };
    expect(refusal('93.184.216.34', 22, p)).toContain('deny list');
    expect(refusal('1.1.1.1', 443, p)).toBeNull();
  });

  it("refuses the host's own addresses, public ones included", () => {
    expect(refusal('203.0.113.7', 8080, policy('', ['203.0.113.7']))).toContain('this host');
  });

  it('lets the operator open a range, or one address on one port', () => {
    const p = policy('10.1.0.0/16,127.0.0.1:8443,[::1]:80');
    expect(refusal('10.1.200.3', 5432, p)).toBeNull();
    expect(refusal('10.2.0.1', 5432, p)).not.toBeNull();
    expect(refusal('127.0.0.1', 8443, p)).toBeNull();
    expect(refusal('127.0.0.1', 8080, p)).not.toBeNull();
    expect(refusal('::1', 80, p)).toBeNull();
    expect(refusal('::1', 81, p)).not.toBeNull();
  });

  it.each(['nonsense', '10.0.0.0/8x', '300.1.1.1', 'example.com:80'])('rejects the exception %s', (entry) => {
    expect(() => parseAllowList(entry)).toThrow(/not an address/);
  });

  it('applies the policy to resolved names, overrides included, before any connection', async () => {
    const p = { ...policy(), resolve: { 'api.test.internal': '127.0.0.1', 'public.test': '93.184.216.34' } };
    const lookup = (host: string, port: number) =>
      new Promise<unknown>((resolve) => safeLookup(p, port)(host, { all: true }, (err: unknown, addrs: unknown) => resolve(err ?? addrs)));
    expect(await lookup('api.test.internal', 443)).toMatchObject({ code: 'EKILNREFUSED', why: expect.stringContaining('loopback') });
    expect(await lookup('public.test', 443)).toEqual([{ address: '93.184.216.34', family: 4 }]);
    expect(await lookup('169.254.169.254', 80)).toMatchObject({ code: 'EKILNREFUSED' });
  });

  // A URL spells [::127.0.0.1] as [::7f00:1]: the IPv4-compatible form must count as its IPv4 address.
  it.each([
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['0:0:0:0:0:0:127.0.0.1', 'loopback'],
    ['::169.254.169.254', 'linkLocal'],
    ['::a9fe:a9fe', 'linkLocal'],
    ['::a00:1', 'private'],
    ['::6464:64c8', 'carrierGradeNat'],
    ['::2', 'unspecified'], // 0.0.0.2
    ['::', 'unspecified'],
  ])('refuses the IPv4-compatible %s (%s)', (address, range) => {
    expect(refusal(address, 443, policy())).toContain(range);
  });

  it("treats an IPv4-compatible address as its IPv4 address: a public one passes, the host's own does not", () => {
    expect(refusal('::808:808', 443, policy())).toBeNull();
    expect(refusal('::cb00:7107', 8080, policy('', ['203.0.113.7']))).toContain('this host');
    expect(refusal('::a83f:8110', 80, policy())).toContain('deny list'); // 168.63.129.16
  });

  // Embeddings that carry an IPv4 address but are ranges of their own: refused as not unicast.
  it.each([
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['64:ff9b::808:808', 'NAT64 of a public address'],
    ['64:ff9b:1::a9fe:a9fe', 'local-use NAT64'],
    ['2002:7f00:1::1', '6to4 of 127.0.0.1'],
    ['2002:a9fe:a9fe::', '6to4 of the metadata address'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo'],
    ['::ffff:0:7f00:1', 'SIIT (IPv4-translated)'],
  ])('refuses %s (%s)', (address) => {
    expect(refusal(address, 443, policy())).not.toBeNull();
  });

  it('reads an exception written in an IPv6 form of an IPv4 address as that address', () => {
    for (const spec of ['[::127.0.0.1]:8443', '[::7f00:1]:8443', '[::ffff:127.0.0.1]:8443', '127.0.0.1:8443']) {
      const p = policy(spec);
      for (const address of ['127.0.0.1', '::7f00:1', '::ffff:7f00:1', '::127.0.0.1'])
        expect(refusal(address, 8443, p), `${spec} for ${address}`).toBeNull();
      expect(refusal('127.0.0.1', 8444, p), spec).not.toBeNull();
      expect(refusal('127.0.0.2', 8443, p), spec).not.toBeNull();
    }
    const range = policy('::ffff:10.1.0.0/112');
    expect(refusal('10.1.2.3', 5432, range)).toBeNull();
    expect(refusal('::a01:203', 5432, range)).toBeNull();
    expect(refusal('10.2.0.1', 5432, range)).not.toBeNull();
    expect(refusal('::1', 80, policy('[::1]:80'))).toBeNull(); // ::1 stays IPv6 loopback
  });

  it('refuses a name resolved to an IPv4-compatible address, with a message that keeps the address to the log', async () => {
    const p = { ...policy(), resolve: { 'compat.test': '::7f00:1' } };
    const err = await new Promise<unknown>((resolve) => safeLookup(p, 443)('compat.test', { all: true }, (e: unknown) => resolve(e)));
    expect(err).toBeInstanceOf(RefusedAddress);
    const refused = err as RefusedAddress;
    expect(refused).toMatchObject({ host: 'compat.test', why: expect.stringContaining('::7f00:1') });
    expect(refused.message).not.toContain('7f00');
    expect(refused.toCaller('KILN_EGRESS_ALLOW_ADDRESSES')).toBe(
      'the address policy refused compat.test (a private, loopback or reserved address; KILN_EGRESS_ALLOW_ADDRESSES allows one)',
    );
  });
});
