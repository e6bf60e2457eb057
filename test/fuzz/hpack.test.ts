/**
 * The HPACK decoder of the unary gRPC server (core/http2/hpack.ts), through its public API only, against
 * the RFC 7541 reading in hpack-reference.ts: random bytes, blocks from the test encoder (every
 * representation, Huffman or not, multi-octet integers, table size updates) and mutations of them, as
 * sequences of blocks on one decoder so the dynamic table carries over.
 *
 * Property: decode passes on exactly the reference's fields, says whether the list stayed within
 * maxHeaderListSize as the reference does, throws exactly when the reference finds the block malformed and
 * then only HpackError; the fields passed on never add up to more than maxHeaderListSize.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { HpackDecoder, HpackError } from '../../core/http2/hpack.js';
import { encodeBlock, entrySize, ReferenceDecoder, type Representation } from './hpack-reference.js';
import { edits, mutateBytes } from './mutate.js';
import { check, fuzz, fuzzTimeout } from './runs.js';

// header octets as latin1 text, like the decoder gives them (bytes first: much cheaper to generate than strings)
const latin1 = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));
const index = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 61 }) }, { weight: 3, arbitrary: fc.integer({ min: 62, max: 72 }) }, { weight: 1, arbitrary: fc.nat() });
const pad = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }) });

/** Representations for a decoder with these limits: entry and list sizes land on the limits now and then. */
function representation(maxTableSize: number, maxHeaderListSize: number): fc.Arbitrary<Representation> {
  // name "n" + value: an entry of exactly limit - 1, limit or limit + 1 octets (32 of them overhead)
  const atLimit = (limit: number) => fc.integer({ min: -1, max: 1 }).map((d) => 'v'.repeat(Math.max(0, limit - 33 + d)));
  const text = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(':path', ':method', 'content-type', 'grpc-timeout', 'te', 'application/grpc', '/pkg.Service/Method', '') },
    { weight: 3, arbitrary: latin1(20) },
    { weight: 1, arbitrary: latin1(400) }, // multi-octet lengths
    { weight: 1, arbitrary: fc.oneof(atLimit(maxTableSize), atLimit(maxHeaderListSize)) },
  );
  // an entry of exactly the table size fits, one octet more empties the table (RFC 7541 4.4)
  const tableFiller = fc.record({ kind: fc.constant('literal' as const), indexing: fc.constant('incremental' as const), name: fc.constant('n'), value: atLimit(maxTableSize), huffman: fc.constant(false), pad: fc.constant(0) });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('indexed' as const), index, pad }) },
    { weight: 1, arbitrary: tableFiller },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('literal' as const),
        indexing: fc.constantFrom('incremental' as const, 'without' as const, 'never' as const),
        name: fc.oneof(index, text),
        value: text,
        huffman: fc.boolean(),
        pad,
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('sizeUpdate' as const), size: fc.oneof(fc.integer({ min: 0, max: 4200 }), fc.constant(maxTableSize), fc.nat()), pad }) },
  );
}

function block(maxTableSize: number, maxHeaderListSize: number): fc.Arbitrary<Buffer> {
  const encoded = fc.array(representation(maxTableSize, maxHeaderListSize), { maxLength: 8 }).map(encodeBlock);
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)) },
    { weight: 2, arbitrary: encoded.map((e) => e.block) },
    { weight: 4, arbitrary: fc.tuple(encoded, edits(3)).map(([e, list]) => mutateBytes(e.block, list, e.landmarks)) },
  );
}

const input = fc
  .tuple(fc.constantFrom(0, 64, 256, 4096), fc.constantFrom(64, 512, 4096))
  .chain(([maxTableSize, maxHeaderListSize]) =>
    fc.record({ maxTableSize: fc.constant(maxTableSize), maxHeaderListSize: fc.constant(maxHeaderListSize), blocks: fc.array(block(maxTableSize, maxHeaderListSize), { minLength: 1, maxLength: 3 }) }),
  );

const sameFields = (a: [string, string][], b: [string, string][]) => a.length === b.length && a.every(([n, v], i) => n === b[i]![0] && v === b[i]![1]);

describe('HPACK decoder (against the RFC 7541 reference)', () => {
  it('decodes what the reference decodes, fails where it fails, and only with HpackError', { timeout: fuzzTimeout() }, async () => {
    await fuzz(
      'hpack',
      fc.property(input, ({ maxTableSize, maxHeaderListSize, blocks }) => {
        const decoder = new HpackDecoder(maxTableSize, maxHeaderListSize);
        const reference = new ReferenceDecoder(maxTableSize, maxHeaderListSize);
        for (const [i, bytes] of blocks.entries()) {
          const where = () => `block ${i} ${bytes.toString('hex')} (table ${maxTableSize}, list ${maxHeaderListSize})`;
          const expected = reference.decode(bytes);
          const fields: [string, string][] = [];
          let withinLimit: unknown;
          let error: unknown;
          try {
            withinLimit = decoder.decode(bytes, (name, value) => void fields.push([name, value]));
          } catch (err) {
            error = err;
          }
          check(error === undefined || error instanceof HpackError, () => `decode threw ${String(error)} for ${where()}`);
          check((error !== undefined) === expected.error, () => `decode ${error ? `threw ${String(error)}` : 'succeeded'}, the reference ${expected.error ? 'fails' : 'succeeds'}: ${where()}`);
          const listSize = fields.reduce((sum, f) => sum + entrySize(f), 0);
          check(listSize <= maxHeaderListSize, () => `passed on ${listSize} octets of fields for ${where()}`);
          check(sameFields(fields, expected.fields), () => `fields ${JSON.stringify(fields)}, reference ${JSON.stringify(expected.fields)}: ${where()}`);
          if (error) return; // the connection ends with COMPRESSION_ERROR: no later block is decoded
          check(withinLimit === expected.withinLimit, () => `decode returned ${String(withinLimit)}, reference says within limit: ${expected.withinLimit}: ${where()}`);
        }
      }),
      { defaultRuns: 6000 },
    );
  });
});
