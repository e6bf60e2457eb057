/**
 * The mutation engine every target shares: a few edits applied to a valid seed input (bytes of a CSR, an
 * HPACK block or a frame stream; characters of a SPIFFE ID). Positions and choices are plain integers taken
 * modulo the input's size when applied, so one edit list fits any seed and shrinks toward small edits.
 */
import fc from 'fast-check';

export type Edit =
  /** Replace the item at `at` (or at landmark `at`, see applyEdits) by `change(old, seed)`. */
  | { kind: 'change'; at: number; seed: number; landmark: boolean }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; seeds: number[] }
  | { kind: 'delete'; at: number; count: number }
  /** Repeat `count` items starting at `at` right after themselves. */
  | { kind: 'duplicate'; at: number; count: number };

/** How one kind of item is edited. */
export interface Alphabet<T> {
  /** A replacement for `old`, chosen by `seed` (bit flips, boundary values, ...). */
  change(old: T, seed: number): T;
  /** A new item to insert. */
  make(seed: number): T;
}

const position = fc.nat();
const small = fc.integer({ min: 1, max: 16 });

/** One to `maxEdits` edits; changes dominate since they keep most of the structure intact. */
export function edits(maxEdits = 4): fc.Arbitrary<Edit[]> {
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('change' as const), at: position, seed: fc.nat(), landmark: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, seeds: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, count: small }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: position, count: small }) },
  );
  return fc.array(edit, { minLength: 1, maxLength: maxEdits });
}

/**
 * Applies `list` to a copy of `items`. `landmarks` are structurally interesting indexes of the original
 * (DER tag and length bytes, frame headers); a landmark change hits one of them instead of a random index.
 * Edits after the first structural one may miss their landmark: that is fine, they still edit something.
 */
export function applyEdits<T>(items: readonly T[], list: readonly Edit[], alphabet: Alphabet<T>, landmarks: readonly number[] = []): T[] {
  const out = [...items];
  for (const e of list) {
    // An index into the current output; `extra` 1 also allows the end (for inserts).
    const at = (extra: 0 | 1) => e.at % (out.length + extra);
    switch (e.kind) {
      case 'change': {
        if (out.length === 0) break;
        const i = e.landmark && landmarks.length > 0 ? landmarks[e.at % landmarks.length]! % out.length : e.at % out.length;
        out[i] = alphabet.change(out[i]!, e.seed);
        break;
      }
      case 'truncate':
        if (out.length > 0) out.length = at(0);
        break;
      case 'insert':
        out.splice(at(1), 0, ...e.seeds.map((s) => alphabet.make(s)));
        break;
      case 'delete':
        if (out.length > 0) out.splice(at(0), e.count);
        break;
      case 'duplicate':
        if (out.length > 0) {
          const start = at(0);
          out.splice(start, 0, ...out.slice(start, start + e.count));
        }
        break;
    }
  }
  return out;
}

/** Values that sit on encoding boundaries: DER tags and length forms, HPACK prefixes, frame types. */
const BOUNDARY_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1f, 0x20, 0x30, 0x31, 0x3f, 0x40, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x88, 0xa0, 0xa3, 0xbf, 0xc0, 0xfe, 0xff];

/** Bytes: a bit flip, a neighbour (length off by one), a boundary value, or any byte. */
export const BYTES: Alphabet<number> = {
  change(old, seed) {
    const choice = seed % 4;
    const n = Math.floor(seed / 4);
    if (choice === 0) return old ^ (1 << (n % 8));
    if (choice === 1) return (old + (n % 2 ? 1 : 255)) & 0xff;
    if (choice === 2) return BOUNDARY_BYTES[n % BOUNDARY_BYTES.length]!;
    return n & 0xff;
  },
  make: (seed) => (seed % 2 ? BOUNDARY_BYTES[(seed >> 1) % BOUNDARY_BYTES.length]! : (seed >> 1) & 0xff),
};

/** A mutated copy of `bytes`. */
export function mutateBytes(bytes: Uint8Array, list: readonly Edit[], landmarks?: readonly number[]): Buffer {
  return Buffer.from(applyEdits(Array.from(bytes), list, BYTES, landmarks));
}

/** Characters: an entry of `alphabet`, or the same character with its case swapped. */
export function characters(alphabet: readonly string[]): Alphabet<string> {
  return {
    change(old, seed) {
      if (seed % 5 === 0) return old === old.toUpperCase() ? old.toLowerCase() : old.toUpperCase();
      return alphabet[seed % alphabet.length]!;
    },
    make: (seed) => alphabet[seed % alphabet.length]!,
  };
}

/** A mutated copy of `text`, edited per code point so surrogate pairs stay whole. */
export function mutateText(text: string, list: readonly Edit[], alphabet: Alphabet<string>, landmarks?: readonly number[]): string {
  return applyEdits([...text], list, alphabet, landmarks).join('');
}
