/**
 * IP addresses and CIDR blocks as integers: IPv4 as an unsigned 32-bit number, IPv6 as a 128-bit bigint.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack listener reports) count as IPv4, so
 * `10.0.0.0/8` matches them. Parsing is strict like Go's net/netip (no leading zeros, no zones in policies).
 */
export type IpAddress = { readonly v4: number } | { readonly v6: bigint };

interface Range<T> {
  start: T;
  end: T;
}

const MAPPED_PREFIX = 0xffffn << 32n;
const V6_BITS = 128n;
const V6_MAX = (1n << V6_BITS) - 1n;

function parseV4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

function parseV6(text: string): bigint | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseV4(piece);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 2 ? head.length + tail.length > 7 : head.length !== 8) return null;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses an address as it appears in policies and in Envoy's socket addresses (a `%zone` is dropped). */
export function parseIp(text: string, options: { allowZone?: boolean } = {}): IpAddress | null {
  if (text.includes(':')) {
    const zone = text.indexOf('%');
    if (zone !== -1 && !options.allowZone) return null;
    const v6 = parseV6(zone === -1 ? text : text.slice(0, zone));
    if (v6 === null) return null;
    return v6 >> 32n === 0xffffn ? { v4: Number(v6 & 0xffffffffn) } : { v6 };
  }
  const v4 = parseV4(text);
  return v4 === null ? null : { v4 };
}

/** An IP address or CIDR block as its first and last address; host bits in a block are ignored. */
export function parseIpBlock(text: string): { v4: Range<number> } | { v6: Range<bigint> } | null {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!address) return null;
  const mapped = text.slice(0, slash === -1 ? undefined : slash).includes(':') && 'v4' in address;
  const maxBits = 'v4' in address && !mapped ? 32 : 128;
  let bits = maxBits;
  if (slash !== -1) {
    const suffix = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(suffix) || Number(suffix) > maxBits) return null;
    bits = Number(suffix);
  }
  if ('v4' in address) {
    // ::ffff:a.b.c.d/n with n >= 96 is the IPv4 block a.b.c.d/(n-96); shorter prefixes also cover non-mapped space.
    if (mapped && bits < 96) return v6Range(MAPPED_PREFIX | BigInt(address.v4), bits);
    const v4Bits = mapped ? bits - 96 : bits;
    const size = 2 ** (32 - v4Bits);
    const start = address.v4 - (address.v4 % size);
    return { v4: { start, end: start + size - 1 } };
  }
  return v6Range(address.v6, bits);
}

function v6Range(address: bigint, bits: number): { v6: Range<bigint> } {
  const hostMask = V6_MAX >> BigInt(bits);
  const start = address & ~hostMask & V6_MAX;
  return { v6: { start, end: start | hostMask } };
}

export type IpMatcher = (address: IpAddress) => boolean;

/** Compiles validated blocks (parseIpBlock succeeded on each) into a matcher over integer ranges. */
export function compileIpMatcher(blocks: readonly string[]): IpMatcher {
  const v4: Range<number>[] = [];
  const v6: Range<bigint>[] = [];
  for (const text of blocks) {
    const block = parseIpBlock(text);
    if (!block) throw new Error(`unvalidated IP block "${text}"`);
    if ('v4' in block) v4.push(block.v4);
    else v6.push(block.v6);
  }
  // An IPv4 block also covers the IPv4-mapped form of its addresses; a mapped-space v6 block covers IPv4.
  const mappedV6 = v6.filter((r) => r.start <= (MAPPED_PREFIX | 0xffffffffn) && r.end >= MAPPED_PREFIX);
  return (address) => {
    if ('v4' in address) {
      const ip = address.v4;
      for (const r of v4) if (ip >= r.start && ip <= r.end) return true;
      if (mappedV6.length === 0) return false;
      const asV6 = MAPPED_PREFIX | BigInt(ip);
      for (const r of mappedV6) if (asV6 >= r.start && asV6 <= r.end) return true;
      return false;
    }
    const ip = address.v6;
    for (const r of v6) if (ip >= r.start && ip <= r.end) return true;
    return false;
  };
}
