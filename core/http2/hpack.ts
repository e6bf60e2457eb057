/**
 * HPACK (RFC 7541): a header-block decoder, and encoders for the few literal representations our precomputed
 * response blocks use (never Huffman, never indexed into the peer's dynamic table).
 *
 * Header octets are handled as latin1 strings, so a string's length is its length in octets.
 */
import { HpackError, huffmanDecode } from './hpack-huffman.js';

export { HpackError };

// RFC 7541 Appendix A; index i is at position i - 1.
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length;
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);

/** Per-entry overhead in table and header-list sizes (RFC 7541 §4.1, RFC 9113 §6.5.2). */
const ENTRY_OVERHEAD = 32;
/** Largest integer accepted: far beyond any real index, length or table size. */
const MAX_INTEGER = 2 ** 30;
const EMPTY = Buffer.alloc(0);

export class HpackDecoder {
  // The dynamic table is a ring buffer: slot `newest` holds index 62, the slot before it 63, and so on.
  private readonly names: string[];
  private readonly values: string[];
  private newest = 0;
  private count = 0;
  /** Sum of entry sizes. */
  private size = 0;
  /** Current limit, lowered (or raised back up to maxTableSize) by table size updates. */
  private maxSize: number;
  private block: Buffer = EMPTY;
  private pos = 0;

  /**
   * @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE we advertise
   * @param maxHeaderListSize limit on one block's decoded fields, counted as name + value + 32 octets each
   */
  constructor(
    private readonly maxTableSize = 4096,
    private readonly maxHeaderListSize = 65536,
  ) {
    this.maxSize = maxTableSize;
    // Every entry takes at least 32 octets, so this many slots always suffice.
    const capacity = Math.max(1, Math.floor(maxTableSize / ENTRY_OVERHEAD));
    this.names = new Array<string>(capacity).fill('');
    this.values = new Array<string>(capacity).fill('');
  }

  /**
   * Decodes one complete header block, calling `onHeader` per field in order. Throws HpackError if malformed.
   * Returns false when the fields exceed maxHeaderListSize: fields past the limit are still decoded (the
   * dynamic table stays in step with the peer's, so the connection stays usable) but not passed on.
   */
  decode(block: Buffer, onHeader: (name: string, value: string) => void): boolean {
    this.block = block;
    this.pos = 0;
    let listSize = 0;
    let sawField = false;
    while (this.pos < block.length) {
      const first = block[this.pos];
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed header field.
        const index = this.integer(7);
        if (index === 0) throw new HpackError('HPACK: index 0 is not a valid header table index');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1];
          value = STATIC_VALUES[index - 1];
        } else {
          const slot = this.slot(index);
          name = this.names[slot];
          value = this.values[slot];
        }
      } else if (first & 0x40) {
        // Literal with incremental indexing.
        name = this.literalName(6);
        value = this.string();
        this.add(name, value);
      } else if (first & 0x20) {
        // Dynamic table size update: only before the first field (RFC 7541 §4.2).
        if (sawField) throw new HpackError('HPACK: table size update after a header field');
        const size = this.integer(5);
        if (size > this.maxTableSize) {
          throw new HpackError(`HPACK: table size update to ${size} exceeds the limit ${this.maxTableSize}`);
        }
        this.maxSize = size;
        this.evictTo(size);
        continue;
      } else {
        // Literal without indexing (0000xxxx) or never indexed (0001xxxx): the same to a decoder.
        name = this.literalName(4);
        value = this.string();
      }
      sawField = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize <= this.maxHeaderListSize) onHeader(name, value);
    }
    this.block = EMPTY; // don't keep the caller's buffer alive
    return listSize <= this.maxHeaderListSize;
  }

  /** Reads a prefix integer (RFC 7541 §5.1) whose first octet is at `pos`. */
  private integer(prefixBits: number): number {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError('HPACK: integer runs past the end of the block');
    const mask = (1 << prefixBits) - 1;
    let value = block[this.pos++] & mask;
    if (value < mask) return value;
    // Five continuation octets carry 35 bits, more than MAX_INTEGER; a sixth can only be padding or overflow.
    for (let scale = 1; scale <= 2 ** 28; scale *= 128) {
      if (this.pos >= block.length) throw new HpackError('HPACK: integer runs past the end of the block');
      const octet = block[this.pos++];
      value += (octet & 0x7f) * scale;
      if ((octet & 0x80) === 0) {
        if (value > MAX_INTEGER) break;
        return value;
      }
    }
    throw new HpackError('HPACK: integer exceeds 2^30');
  }

  /** Reads a string literal (RFC 7541 §5.2). */
  private string(): string {
    const huffman = (this.block[this.pos] & 0x80) !== 0; // if pos is at the end, integer() throws
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > this.block.length) {
      throw new HpackError(
        `HPACK: string length ${length} runs past the end of the block (${this.block.length - start} octets left)`,
      );
    }
    this.pos = end;
    return huffman ? huffmanDecode(this.block, start, end) : this.block.toString('latin1', start, end);
  }

  /** The name of a literal field: an index in the prefix, or 0 and a string literal. */
  private literalName(prefixBits: number): string {
    const index = this.integer(prefixBits);
    if (index === 0) return this.string();
    return index <= STATIC_COUNT ? STATIC_NAMES[index - 1] : this.names[this.slot(index)];
  }

  /** The ring slot of dynamic-table `index` (> 61). */
  private slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count) {
      throw new HpackError(
        `HPACK: index ${index} is beyond the header tables (${STATIC_COUNT} static + ${this.count} dynamic)`,
      );
    }
    const capacity = this.names.length;
    return (this.newest - age + capacity) % capacity;
  }

  /** Inserts an entry; one larger than the table empties it and is not inserted (RFC 7541 §4.4). */
  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    this.evictTo(this.maxSize - entrySize);
    if (entrySize > this.maxSize) return;
    this.newest = (this.newest + 1) % this.names.length;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.size += entrySize;
  }

  /** Evicts oldest entries until the table's size is at most `limit`. */
  private evictTo(limit: number): void {
    const capacity = this.names.length;
    while (this.count > 0 && this.size > limit) {
      const oldest = (this.newest - this.count + 1 + capacity) % capacity;
      this.size -= this.names[oldest].length + this.values[oldest].length + ENTRY_OVERHEAD;
      this.names[oldest] = this.values[oldest] = ''; // release the strings
      this.count--;
    }
  }
}

/** Literal header field without indexing, new name (RFC 7541 §6.2.2): 0x00, name, value. */
export function literalHeaderField(name: string, value: string): Buffer {
  const out = Buffer.allocUnsafe(1 + stringLength(name) + stringLength(value));
  out[0] = 0x00;
  writeString(out, writeString(out, 1, name), value);
  return out;
}

/** Indexed header field (RFC 7541 §6.1). */
export function indexedHeaderField(index: number): Buffer {
  checkIndex(index);
  const out = Buffer.allocUnsafe(integerLength(index, 7));
  writeInteger(out, 0, index, 7, 0x80);
  return out;
}

/** Literal header field without indexing, indexed name (RFC 7541 §6.2.2). */
export function literalWithIndexedName(index: number, value: string): Buffer {
  checkIndex(index);
  const out = Buffer.allocUnsafe(integerLength(index, 4) + stringLength(value));
  writeString(out, writeInteger(out, 0, index, 4, 0x00), value);
  return out;
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 1 || index > MAX_INTEGER) throw new RangeError(`HPACK: bad index ${index}`);
}

function integerLength(value: number, prefixBits: number): number {
  let rest = value - ((1 << prefixBits) - 1);
  if (rest < 0) return 1;
  let length = 2;
  for (; rest >= 128; rest = Math.floor(rest / 128)) length++;
  return length;
}

/** Writes a prefix integer at `pos` with `flags` in the first octet's high bits; returns the position after it. */
function writeInteger(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 128) {
    out[pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos++] = rest;
  return pos;
}

function stringLength(s: string): number {
  return integerLength(s.length, 7) + s.length;
}

/** Writes a string literal without Huffman coding; returns the position after it. */
function writeString(out: Buffer, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) throw new RangeError('HPACK: header text must be latin1');
  }
  pos = writeInteger(out, pos, s.length, 7, 0x00);
  return pos + out.write(s, pos, 'latin1');
}
