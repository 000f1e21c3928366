import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';
import { type AddressRange, embeddedIPv4, parseAllowList } from '../model/address-list.js';

export { parseAllowList };

/**
 * Where the proxy may connect. Only public unicast addresses, never the
 * host's own, unless the operator names a range (optionally with a port).
 * Checked on the resolved address at connect time, so DNS rebinding and
 * redirects to private addresses are refused as well.
 */
export interface AddressPolicy {
  /** Operator exceptions: `10.1.0.0/16`, `127.0.0.1:8443`. */
  allow: AddressRange[];
  /** Public addresses that are still not the Internet: cloud platform endpoints, the host's public IP. */
  deny: AddressPolicy['allow'];
  /** Addresses of this machine's interfaces: public or not, they are the host. */
  own: Set<string>;
  /** Test and split-horizon setups: names resolved without DNS. */
  resolve: Record<string, string>;
}

/** Public-looking addresses that serve the platform, not the Internet (Azure's wireserver and IMDS proxy). */
const PLATFORM_ADDRESSES = '168.63.129.16';

export function createAddressPolicy(opts: { allow?: string; deny?: string; resolve?: Record<string, string> }): AddressPolicy {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) own.add(canonical(a.address));
  return {
    allow: parseAllowList(opts.allow ?? ''),
    deny: parseAllowList([PLATFORM_ADDRESSES, opts.deny ?? ''].join(',')),
    own,
    resolve: opts.resolve ?? {},
  };
}

/**
 * The address kiln connects to for `address`: the IPv4 address an embedded form names (a kernel may
 * route ::7f00:1 to an IPv6 gateway rather than to 127.0.0.1, so the check and the connection must
 * agree on which machine they mean); any other address as it is.
 */
export const connectAddress = (address: string): string => canonical(address);

function canonical(address: string): string {
  const parsed = ipaddr.parse(address.replace(/%.*$/, ''));
  // ::ffff:10.0.0.1 and ::10.0.0.1 are 10.0.0.1: never let an embedded form slip past the v4 rules
  return (embeddedIPv4(parsed) ?? parsed).toString();
}

/** Null when the proxy may connect to address:port; otherwise why not. */
export function refusal(address: string, port: number, policy: AddressPolicy): string | null {
  if (!ipaddr.isValid(address.replace(/%.*$/, ''))) return `${address} is not an IP address`;
  const ip = ipaddr.parse(canonical(address));
  const matches = (entry: AddressPolicy['allow'][number]) =>
    ip.kind() === entry.range[0].kind() && ip.match(entry.range) && (entry.port === undefined || entry.port === port);
  if (policy.allow.some(matches)) return null;
  if (policy.deny.some(matches)) return `${address} is on the deny list`;
  if (policy.own.has(ip.toString())) return `${address} is this host`;
  const range = ip.range();
  if (range !== 'unicast') return `${address} is a ${range} address`;
  return null;
}

/**
 * kiln's address policy refused `host`. `why` names the address it resolved to and the rule: for
 * kiln's log only. The message, and `toCaller`, say what a caller may know: the host it named and
 * that the policy refused it, never what kiln's resolver answered (that would map its network).
 */
export class RefusedAddress extends Error {
  readonly code = 'EKILNREFUSED';
  constructor(
    readonly host: string,
    readonly why: string,
  ) {
    super(`the address policy refused ${host} (a private, loopback or reserved address)`);
  }

  /** The refusal in a caller's words, naming the setting that allows such an address. */
  toCaller(setting: string): string {
    return `the address policy refused ${this.host} (a private, loopback or reserved address; ${setting} allows one)`;
  }
}

/** A `lookup` for http.request: resolves (or takes the override), then refuses what the policy forbids. */
export function safeLookup(policy: AddressPolicy, port: number): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const answer = (addresses: LookupAddress[]) => {
      for (const a of addresses) {
        const why = refusal(a.address, port, policy);
        if (why) return callback(new RefusedAddress(hostname, why));
      }
      // connect where the policy looked: an embedded IPv4 address as itself
      const checked = addresses.map((a) => {
        const address = canonical(a.address);
        return { address, family: address.includes(':') ? 6 : 4 };
      });
      if (options.all) callback(null, checked);
      else callback(null, checked[0]!.address, checked[0]!.family);
    };
    const override = policy.resolve[hostname.toLowerCase()];
    if (override) return answer([{ address: override, family: override.includes(':') ? 6 : 4 }]);
    if (ipaddr.isValid(hostname)) return answer([{ address: hostname, family: hostname.includes(':') ? 6 : 4 }]);
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) return callback(err);
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      answer(addresses);
    });
  }) as LookupFunction;
}
