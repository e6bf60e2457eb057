/**
 * A reference check for X.690 DER well-formedness, written from the standard rather than from
 * core/x509/der.ts: the CSR target uses it to tell "the CA is stricter than the lenient reference parser"
 * (fine, documented) from "the CA refuses valid DER" (a bug). Primitive contents other than the universal
 * types below are opaque; OCTET and BIT STRING contents are not descended into (callers check nested DER).
 */

/** Whether `buf[from, to)` is a sequence of DER TLVs. */
export function isDer(buf: Uint8Array, from = 0, to = buf.length): boolean {
  let at = from;
  while (at < to) {
    const end = tlvEnd(buf, at, to);
    if (end < 0) return false;
    at = end;
  }
  return true;
}

/** End of the DER TLV at `at`, or -1. */
function tlvEnd(buf: Uint8Array, at: number, limit: number): number {
  if (at + 2 > limit) return -1;
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) return -1; // high tag numbers: not used by any structure read here
  let length = buf[at + 1]!;
  let p = at + 2;
  if (length === 0x80) return -1; // indefinite length (X.690 10.1)
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n > 4 || p + n > limit || buf[p] === 0) return -1; // 10.1: fewest octets
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[p++]!;
    if (length < 0x80) return -1; // short form was possible
  }
  const end = p + length;
  if (end > limit) return -1;
  const constructed = (tag & 0x20) !== 0;
  if ((tag & 0xc0) === 0 && constructed !== (tag === 0x30 || tag === 0x31)) return -1; // 8.x: universal types have one form in DER
  if (constructed) return isDer(buf, p, end) ? end : -1;
  return universalContentsOk(tag, buf.subarray(p, end)) ? end : -1;
}

function universalContentsOk(tag: number, c: Uint8Array): boolean {
  switch (tag) {
    case 0x01: // BOOLEAN (11.1)
      return c.length === 1 && (c[0] === 0x00 || c[0] === 0xff);
    case 0x02: // INTEGER (8.3.2)
      return c.length > 0 && !(c.length > 1 && ((c[0] === 0x00 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80)));
    case 0x03: // BIT STRING (8.6.2, 11.2.1)
      return c.length > 0 && c[0]! <= 7 && (c.length > 1 || c[0] === 0) && (c.length === 1 || (c.at(-1)! & ((1 << c[0]!) - 1)) === 0);
    case 0x05: // NULL
      return c.length === 0;
    case 0x06: // OBJECT IDENTIFIER (8.19): subidentifiers minimal, last octet ends one
      return c.length > 0 && !(c.at(-1)! & 0x80) && c.every((b, i) => b !== 0x80 || (i > 0 && c[i - 1]! & 0x80));
    default:
      return true;
  }
}
