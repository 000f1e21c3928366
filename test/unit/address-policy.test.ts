// Where the egress proxy may connect: decided by rules, tested without sending a packet.
import { describe, expect, it } from 'vitest';
import { createAddressPolicy, parseAllowList, refusal, safeLookup, type AddressPolicy } from '../../src/egress/address-policy.js';

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
});
