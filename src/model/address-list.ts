import ipaddr from 'ipaddr.js';

/**
 * The grammar of kiln's address lists (KILN_*_ALLOW_ADDRESSES, KILN_EGRESS_DENY_ADDRESSES): the
 * settings are parsed with it when they are read, and the address policies match against what it
 * makes (src/egress/address-policy.ts).
 */

/** One entry: an address range, optionally on one port only. */
export interface AddressRange {
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  port?: number;
}

/** One exception: `10.0.0.0/8`, `127.0.0.1`, `127.0.0.1:8443`, `[::1]:80`, `fd00::/8`. */
function parseException(entry: string): AddressRange {
  let address = entry;
  let bits: number | undefined;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(entry);
  const cidr = /^([^/]+)\/(\d+)$/.exec(entry);
  if (bracketed) [address, port] = [bracketed[1]!, bracketed[2] ? Number(bracketed[2]) : undefined];
  else if (v4WithPort) [address, port] = [v4WithPort[1]!, Number(v4WithPort[2])];
  else if (cidr) [address, bits] = [cidr[1]!, Number(cidr[2])];
  if (!ipaddr.isValid(address)) throw new Error(`not an address, range or address:port: ${entry}`);
  const parsed = ipaddr.parse(address);
  const width = bits ?? (parsed.kind() === 'ipv4' ? 32 : 128);
  // addresses are compared in their IPv4 form (see canonical): so must an exception written as IPv6 be
  const v4 = embeddedIPv4(parsed);
  if (v4 && width >= 96) return { range: [v4, width - 96], port };
  return { range: [parsed, width], port };
}

/** Parses a comma-separated list of exceptions; throws on a bad entry. */
export function parseAllowList(spec: string): AddressRange[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseException);
}

/**
 * The IPv4 address an IPv6 one carries in its last 32 bits, for the two forms that are that address
 * to a resolver or a kernel: IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96, deprecated but
 * still routed by some stacks, and what a URL makes of `[::127.0.0.1]`: `[::7f00:1]`). `::` and `::1`
 * keep their IPv6 meaning. Other embeddings (NAT64 64:ff9b::/96, 6to4, Teredo, SIIT) are ranges of
 * their own that the policy refuses as not unicast.
 */
export function embeddedIPv4(ip: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | null {
  if (ip.kind() !== 'ipv6') return null;
  const v6 = ip as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  const p = v6.parts;
  const compatible = p.slice(0, 6).every((w) => w === 0) && !(p[6] === 0 && p[7]! <= 1);
  return compatible ? ipaddr.IPv4.parse(`${p[6]! >> 8}.${p[6]! & 0xff}.${p[7]! >> 8}.${p[7]! & 0xff}`) : null;
}
