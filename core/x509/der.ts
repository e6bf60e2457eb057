/**
 * Minimal strict DER reading and writing for the hot paths (CSR parsing, leaf encoding), where
 * @peculiar/asn1-schema costs hundreds of microseconds per object. Only single-byte tags and definite,
 * minimally encoded lengths are accepted.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag number n: constructed ([n] EXPLICIT or constructed IMPLICIT) or primitive. */
export const contextTag = (n: number, constructed: boolean) => (constructed ? 0xa0 : 0x80) | n;

/** Thrown by DerReader; callers translate it into a MeshidError naming what they were reading. */
export class DerError extends Error {}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads consecutive TLVs from `buf[offset, end)`. */
export class DerReader {
  constructor(
    readonly buf: Uint8Array,
    private offset = 0,
    private readonly end = buf.length,
  ) {}

  /** Reader over the contents of a constructed TLV. */
  static within(buf: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(buf, tlv.contentStart, tlv.end);
  }

  get done(): boolean {
    return this.offset >= this.end;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.buf[this.offset];
  }

  /** Reads the next TLV; with `tag`, fails unless it carries that tag. */
  next(tag?: number): Tlv {
    const buf = this.buf;
    const start = this.offset;
    if (start + 2 > this.end) throw new DerError('truncated');
    const actual = buf[start]!;
    if ((actual & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
    if (tag !== undefined && actual !== tag) {
      throw new DerError(`expected tag 0x${tag.toString(16)}, found 0x${actual.toString(16)}`);
    }
    let length = buf[start + 1]!;
    let p = start + 2;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n === 0) throw new DerError('indefinite length');
      if (n > 4) throw new DerError('length too large');
      if (p + n > this.end) throw new DerError('truncated');
      if (buf[p] === 0) throw new DerError('non-minimal length');
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + buf[p++]!;
      if (length < 0x80) throw new DerError('non-minimal length');
    }
    const endOfTlv = p + length;
    if (endOfTlv > this.end) throw new DerError('truncated');
    this.offset = endOfTlv;
    return { tag: actual, start, contentStart: p, end: endOfTlv };
  }

  /** Reads the next TLV only when it carries `tag`. */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next(tag) : undefined;
  }

  expectDone(): void {
    if (!this.done) throw new DerError('unexpected trailing data');
  }
}

export const contents = (buf: Uint8Array, tlv: Tlv) => buf.subarray(tlv.contentStart, tlv.end);
export const whole = (buf: Uint8Array, tlv: Tlv) => buf.subarray(tlv.start, tlv.end);

/** Dotted form of an OBJECT IDENTIFIER's contents. */
export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0 || bytes[bytes.length - 1]! & 0x80) throw new DerError('malformed OID');
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (value === 0 && b === 0x80) throw new DerError('malformed OID');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      if (arcs.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        arcs.push(first, value - first * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}

/** Contents of a BOOLEAN TLV (DER: 0x00 or 0xff). */
export function decodeBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  if (tlv.end - tlv.contentStart !== 1) throw new DerError('malformed BOOLEAN');
  const v = buf[tlv.contentStart];
  if (v === 0x00) return false;
  if (v === 0xff) return true;
  throw new DerError('BOOLEAN is not DER (0x00 or 0xff)');
}

/** BIT STRING contents: unused-bit count and the bit bytes. */
export function decodeBitString(buf: Uint8Array, tlv: Tlv): { unusedBits: number; bytes: Uint8Array } {
  if (tlv.end === tlv.contentStart) throw new DerError('malformed BIT STRING');
  const unusedBits = buf[tlv.contentStart]!;
  if (unusedBits > 7 || (unusedBits > 0 && tlv.end - tlv.contentStart === 1)) throw new DerError('malformed BIT STRING');
  return { unusedBits, bytes: buf.subarray(tlv.contentStart + 1, tlv.end) };
}

// ---- writing -------------------------------------------------------------------------------------------

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV around the concatenation of `parts`. */
export function encodeTlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const header = lengthBytes(length);
  const out = Buffer.allocUnsafe(1 + header.length + length);
  out[0] = tag;
  for (let i = 0; i < header.length; i++) out[1 + i] = header[i]!;
  let off = 1 + header.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export const encodeSequence = (...parts: Uint8Array[]) => encodeTlv(TAG.SEQUENCE, ...parts);

export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const pushBase128 = (v: number) => {
    const chunk = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  };
  pushBase128(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) pushBase128(arc);
  return encodeTlv(TAG.OID, Uint8Array.from(bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes: leading zeros stripped, 0x00 added if needed. */
export function encodeUnsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  return trimmed[0]! & 0x80 ? encodeTlv(TAG.INTEGER, Uint8Array.of(0), trimmed) : encodeTlv(TAG.INTEGER, trimmed);
}

export const encodeBoolean = (v: boolean) => encodeTlv(TAG.BOOLEAN, Uint8Array.of(v ? 0xff : 0x00));
export const encodeOctetString = (bytes: Uint8Array) => encodeTlv(TAG.OCTET_STRING, bytes);
export const encodeBitString = (bytes: Uint8Array, unusedBits = 0) =>
  encodeTlv(TAG.BIT_STRING, Uint8Array.of(unusedBits), bytes);

/**
 * RFC 5280 Time: UTCTime for 1950-2049, GeneralizedTime otherwise; whole seconds, always "Z".
 */
export function encodeTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const pad = (n: number) => (n < 10 ? '0' : '') + n;
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050) return encodeTlv(TAG.UTC_TIME, Buffer.from(pad(year % 100) + rest, 'latin1'));
  return encodeTlv(TAG.GENERALIZED_TIME, Buffer.from(String(year).padStart(4, '0') + rest, 'latin1'));
}
