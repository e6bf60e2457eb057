/**
 * A test-side HPACK (RFC 7541) encoder for every representation, and a slow, literal reading of the RFC
 * as the reference decoder for core/http2/hpack.ts. Independent of the decoder under test except for the
 * Huffman code table (RFC 7541 Appendix B data, checked symbol by symbol in hpack.test.ts).
 */
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES } from '../../core/http2/hpack-huffman.js';

/** RFC 7541 Appendix A. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'],
  [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''],
  ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''],
  ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''],
  ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * Implementation limits the decoder under test documents, which the RFC leaves to implementations
 * ("integer encodings that exceed implementation limits ... MUST be treated as decoding errors"):
 * integers up to 2^30, in at most five continuation octets.
 */
const MAX_INTEGER = 2 ** 30;
const MAX_CONTINUATION_OCTETS = 5;

// ---- encoder ------------------------------------------------------------------------------------------

/** `pad`: redundant continuation octets on the representation's first integer (legal, but limited). */
export type Representation =
  | { kind: 'indexed'; index: number; pad: number }
  | { kind: 'literal'; indexing: 'incremental' | 'without' | 'never'; name: number | string; value: string; huffman: boolean; pad: number }
  | { kind: 'sizeUpdate'; size: number; pad: number };

function integer(out: number[], value: number, prefixBits: number, flags: number, pad = 0): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  if (pad === 0) {
    out.push(value);
    return;
  }
  out.push(value | 0x80); // then groups of zero: 0x80 ... 0x00
  for (let i = 1; i < pad; i++) out.push(0x80);
  out.push(0x00);
}

function huffman(text: string): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of Buffer.from(text, 'latin1')) {
    for (let bit = HUFFMAN_CODE_LENGTHS[c]! - 1; bit >= 0; bit--) {
      acc = (acc << 1) | ((HUFFMAN_CODES[c]! >>> bit) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | (0xff >> bits)); // pad with the most significant bits of EOS
  return out;
}

function string(out: number[], text: string, useHuffman: boolean, landmarks: number[]): void {
  landmarks.push(out.length);
  const bytes = useHuffman ? huffman(text) : [...Buffer.from(text, 'latin1')];
  integer(out, bytes.length, 7, useHuffman ? 0x80 : 0);
  out.push(...bytes);
}

/** A header block and the offsets where each representation and string starts (mutation landmarks). */
export function encodeBlock(representations: readonly Representation[]): { block: Buffer; landmarks: number[] } {
  const out: number[] = [];
  const landmarks: number[] = [];
  for (const r of representations) {
    landmarks.push(out.length);
    if (r.kind === 'indexed') integer(out, r.index, 7, 0x80, r.pad);
    else if (r.kind === 'sizeUpdate') integer(out, r.size, 5, 0x20, r.pad);
    else {
      const [bits, flags] = r.indexing === 'incremental' ? [6, 0x40] : r.indexing === 'never' ? [4, 0x10] : [4, 0x00];
      integer(out, typeof r.name === 'number' ? r.name : 0, bits, flags, r.pad);
      if (typeof r.name === 'string') string(out, r.name, r.huffman, landmarks);
      string(out, r.value, r.huffman, landmarks);
    }
  }
  return { block: Buffer.from(out), landmarks };
}

// ---- decoder ------------------------------------------------------------------------------------------

const HUFFMAN_SYMBOLS = new Map<string, number>(HUFFMAN_CODES.map((code, symbol) => [`${HUFFMAN_CODE_LENGTHS[symbol]}:${code}`, symbol]));
const EOS = 256;

class DecodeError extends Error {}

/** RFC 7541 4.1, and the header list size of RFC 9113 6.5.2: name + value + 32. */
export const entrySize = ([name, value]: readonly [string, string]) => name.length + value.length + 32;

/** What decoding one block gives: the fields passed on, whether the list stayed in the limit, or an error. */
export interface ReferenceResult {
  fields: [string, string][];
  withinLimit: boolean;
  error: boolean;
}

export class ReferenceDecoder {
  /** Newest first, as HPACK indexes it. */
  private table: [string, string][] = [];
  /** Sum of entrySize over the table. */
  private size = 0;
  private limit: number;

  constructor(
    private readonly maxTableSize: number,
    private readonly maxHeaderListSize: number,
  ) {
    this.limit = maxTableSize;
  }

  /**
   * Fields are passed on while the header list (name + value + 32 per field) stays within the limit; the
   * rest of the block is still decoded, so the dynamic table stays in step.
   */
  decode(block: Buffer): ReferenceResult {
    const fields: [string, string][] = [];
    let listSize = 0;
    let pos = 0;
    let sawField = false;
    const byte = () => {
      if (pos >= block.length) throw new DecodeError('truncated');
      return block[pos++]!;
    };
    const int = (prefixBits: number) => {
      const max = (1 << prefixBits) - 1;
      let value = byte() & max;
      if (value < max) return value;
      for (let octets = 1, shift = 1; ; octets++, shift *= 128) {
        if (octets > MAX_CONTINUATION_OCTETS) throw new DecodeError('integer too long');
        const b = byte();
        value += (b & 0x7f) * shift;
        if (!(b & 0x80)) break;
      }
      if (value > MAX_INTEGER) throw new DecodeError('integer too large');
      return value;
    };
    const str = () => {
      if (pos >= block.length) throw new DecodeError('truncated');
      const coded = (block[pos]! & 0x80) !== 0;
      const length = int(7);
      if (pos + length > block.length) throw new DecodeError('string past the end');
      const bytes = block.subarray(pos, pos + length);
      pos += length;
      return coded ? huffmanDecode(bytes) : bytes.toString('latin1');
    };
    const entry = (index: number): [string, string] => {
      if (index === 0) throw new DecodeError('index 0');
      if (index <= STATIC.length) return [STATIC[index - 1]![0], STATIC[index - 1]![1]];
      const dynamic = this.table[index - STATIC.length - 1];
      if (!dynamic) throw new DecodeError('index past the tables');
      return dynamic;
    };
    try {
      while (pos < block.length) {
        const first = block[pos]!;
        let field: [string, string];
        if (first & 0x80) {
          field = entry(int(7));
        } else if ((first & 0xe0) === 0x20) {
          if (sawField) throw new DecodeError('size update after a field');
          const size = int(5);
          if (size > this.maxTableSize) throw new DecodeError('size update above the limit');
          this.limit = size;
          this.evict(0);
          continue;
        } else {
          const incremental = (first & 0xc0) === 0x40;
          const index = int(incremental ? 6 : 4);
          const name = index === 0 ? str() : entry(index)[0];
          field = [name, str()];
          if (incremental) this.insert(field);
        }
        sawField = true;
        listSize += entrySize(field);
        if (listSize <= this.maxHeaderListSize) fields.push(field);
      }
    } catch (err) {
      if (err instanceof DecodeError) return { fields, withinLimit: listSize <= this.maxHeaderListSize, error: true };
      throw err;
    }
    return { fields, withinLimit: listSize <= this.maxHeaderListSize, error: false };
  }

  /** Drops oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.limit) this.size -= entrySize(this.table.pop()!);
  }

  /** RFC 7541 4.4: an entry larger than the table empties it and is not added. */
  private insert(field: [string, string]): void {
    this.evict(entrySize(field));
    if (entrySize(field) > this.limit) return;
    this.table.unshift(field);
    this.size += entrySize(field);
  }
}

/** RFC 7541 5.2 bit by bit: EOS is an error, padding is at most 7 bits, all ones. */
function huffmanDecode(bytes: Uint8Array): string {
  let out = '';
  let code = 0;
  let length = 0;
  for (const b of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((b >> bit) & 1);
      length++;
      const symbol = HUFFMAN_SYMBOLS.get(`${length}:${code}`);
      if (symbol === undefined) continue;
      if (symbol === EOS) throw new DecodeError('EOS in a string');
      out += String.fromCharCode(symbol);
      code = length = 0;
    }
  }
  if (length > 7 || code !== 2 ** length - 1) throw new DecodeError('bad padding');
  return out;
}
