import { isIPv4, isIPv6 } from 'node:net';
import { parseIp } from '../../core/policy/ip.js';

const MAPPED = '::ffff:';

/**
 * The source a call is counted against, from grpc-js `call.getPeer()`: "10.1.2.3:5000",
 * "::ffff:10.1.2.3:5000" (a dual-stack listener), "2001:db8::1:5000" (grpc-js appends the port to an IPv6
 * address without brackets), "[::1]:5000", each possibly with grpc's "ipv4:" / "ipv6:" prefix. IPv4 and
 * IPv4-mapped addresses count as themselves; IPv6 addresses by their /64, since a single host usually holds a
 * whole /64 and could otherwise take a fresh budget per address. Anything else (no address) is returned as is.
 */
export function sourceAddress(peer: string): string {
  let host = peer.startsWith('ipv4:') || peer.startsWith('ipv6:') ? peer.slice(5) : peer;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end > 0) host = host.slice(1, end);
  } else {
    const colon = host.lastIndexOf(':');
    // One colon: IPv4 and port. Several: IPv6 and, if what precedes the last colon is an address, a port.
    if (colon > 0 && (host.indexOf(':') === colon || isIPv6(host.slice(0, colon)))) host = host.slice(0, colon);
  }
  if (host.startsWith(MAPPED) && isIPv4(host.slice(MAPPED.length))) return host.slice(MAPPED.length);
  if (!host.includes(':')) return host;
  const address = parseIp(host, { allowZone: true });
  return address && 'v6' in address ? `${prefix64(address.v6)}::/64` : host;
}

function prefix64(v6: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 64n; shift -= 16n) groups.push(((v6 >> shift) & 0xffffn).toString(16));
  return groups.join(':');
}
