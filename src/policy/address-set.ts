// CIDR sets for client ACLs and destination deny lists (pure: strings in, booleans out).
// Must not resolve names or touch sockets; callers pass literal addresses.
import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export const LOOPBACK = ['127.0.0.0/8', '::1/128'];
export const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10'];
/** Never dialled by default: loopback, link-local (incl. the 169.254.169.254 metadata address), unspecified. */
export const DEFAULT_DENY_DESTINATIONS = ['127.0.0.0/8', '::1/128', '169.254.0.0/16', 'fe80::/10', '0.0.0.0/8', '::/128'];
export const DEFAULT_ALLOW_CLIENTS = [...LOOPBACK, ...PRIVATE];

export class AddressSetError extends Error {
  readonly code = 'bad_cidr';
}

/** Parses "a.b.c.d/n", "v6/n" or a bare address (host route). Host bits may be set (Microsoft publishes such). */
export function parseCidr(text: string): Range {
  const s = text.trim();
  try {
    if (s.includes('/')) return ipaddr.parseCIDR(s);
    const a = ipaddr.parse(s);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new AddressSetError(`not an IP address or CIDR: "${text}"`);
  }
}

/** Normalises IPv4-mapped IPv6 (::ffff:a.b.c.d) to IPv4 so one rule covers both spellings. */
export function parseAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(bare)) return null;
  const a = ipaddr.parse(bare);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
  return a;
}

export interface AddressSet {
  has(ip: string): boolean;
  readonly size: number;
}

export function createAddressSet(cidrs: readonly string[]): AddressSet {
  const v4: Range[] = [];
  const v6: Range[] = [];
  for (const c of cidrs) {
    const r = parseCidr(c);
    (r[0].kind() === 'ipv4' ? v4 : v6).push(r);
  }
  return {
    size: v4.length + v6.length,
    has(ip: string): boolean {
      const a = parseAddress(ip);
      if (!a) return false;
      const list = a.kind() === 'ipv4' ? v4 : v6;
      for (const r of list) if (a.match(r)) return true;
      return false;
    },
  };
}
