import http2 from 'node:http2';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES, huffmanDecode } from './hpack-huffman.js';
import { HpackDecoder, HpackError, indexedHeaderField, literalHeaderField, literalWithIndexedName } from './hpack.js';

type Field = [string, string];

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): Field[] {
  const fields: Field[] = [];
  decoder.decode(block, (name, value) => fields.push([name, value]));
  return fields;
}

/** Reads the dynamic table through indexed lookups (which leave it unchanged), newest first. */
function dynamicTable(decoder: HpackDecoder): Field[] {
  const entries: Field[] = [];
  for (let index = 62; ; index++) {
    try {
      entries.push(...decodeAll(decoder, indexedHeaderField(index)));
    } catch (err) {
      expect(err).toBeInstanceOf(HpackError);
      return entries;
    }
  }
}

const tableSize = (entries: Field[]) => entries.reduce((sum, [name, value]) => sum + name.length + value.length + 32, 0);

function expectHpackError(run: () => void, message: RegExp): HpackError {
  let error: unknown;
  try {
    run();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(HpackError);
  expect((error as HpackError).message).toMatch(message);
  return error as HpackError;
}

/** Test-only Huffman encoder (RFC 7541 §5.2): codes MSB first, padded with the high bits of EOS. */
function huffmanEncode(value: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < value.length; i++) {
    const code = HUFFMAN_CODES[value.charCodeAt(i)];
    for (let bit = HUFFMAN_CODE_LENGTHS[value.charCodeAt(i)] - 1; bit >= 0; bit--) {
      acc = (acc << 1) | ((code >>> bit) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | (0xff >> bits));
  return Buffer.from(out);
}

interface Step {
  block: string;
  headers: Field[];
  /** Dynamic table after the block, newest first, and its size. */
  table: Field[];
  size: number;
}

const C3_C4_HEADERS: Field[][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const C3_C4_TABLES: Field[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const C3_C4_SIZES = [57, 110, 164];

const DATE_21 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_22 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const C5_C6_HEADERS: Field[][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE_21], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE_21], ['location', LOCATION]],
  [
    [':status', '200'], ['cache-control', 'private'], ['date', DATE_22], ['location', LOCATION],
    ['content-encoding', 'gzip'], ['set-cookie', COOKIE],
  ],
];
const C5_C6_TABLES: Field[][] = [
  [['location', LOCATION], ['date', DATE_21], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE_21], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_22]],
];
const C5_C6_SIZES = [222, 222, 215];

const steps = (blocks: string[], headers: Field[][], tables: Field[][], sizes: number[]): Step[] =>
  blocks.map((block, i) => ({ block, headers: headers[i], table: tables[i], size: sizes[i] }));

const SEQUENCES: { name: string; tableSize: number; steps: Step[] }[] = [
  {
    name: 'C.3 requests without Huffman coding',
    tableSize: 4096,
    steps: steps(
      [
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ],
      C3_C4_HEADERS,
      C3_C4_TABLES,
      C3_C4_SIZES,
    ),
  },
  {
    name: 'C.4 requests with Huffman coding',
    tableSize: 4096,
    steps: steps(
      [
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ],
      C3_C4_HEADERS,
      C3_C4_TABLES,
      C3_C4_SIZES,
    ),
  },
  {
    name: 'C.5 responses without Huffman coding, 256-octet table',
    tableSize: 256,
    steps: steps(
      [
        `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d`,
        '4803 3330 37c1 c0bf',
        `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31`,
      ],
      C5_C6_HEADERS,
      C5_C6_TABLES,
      C5_C6_SIZES,
    ),
  },
  {
    name: 'C.6 responses with Huffman coding, 256-octet table',
    tableSize: 256,
    steps: steps(
      [
        `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        '4883 640e ffc1 c0bf',
        `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      ],
      C5_C6_HEADERS,
      C5_C6_TABLES,
      C5_C6_SIZES,
    ),
  },
];

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it.each([
    {
      name: 'C.2.1 literal with indexing',
      block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      header: ['custom-key', 'custom-header'] as Field,
      table: [['custom-key', 'custom-header']] as Field[],
    },
    {
      name: 'C.2.2 literal without indexing',
      block: '040c 2f73 616d 706c 652f 7061 7468',
      header: [':path', '/sample/path'] as Field,
      table: [],
    },
    {
      name: 'C.2.3 literal never indexed',
      block: '1008 7061 7373 776f 7264 0673 6563 7265 74',
      header: ['password', 'secret'] as Field,
      table: [],
    },
    { name: 'C.2.4 indexed', block: '82', header: [':method', 'GET'] as Field, table: [] },
  ])('$name', ({ block, header, table }) => {
    const decoder = new HpackDecoder();
    expect(decodeAll(decoder, hex(block))).toEqual([header]);
    expect(dynamicTable(decoder)).toEqual(table);
  });

  for (const sequence of SEQUENCES) {
    it(sequence.name, () => {
      const decoder = new HpackDecoder(sequence.tableSize);
      sequence.steps.forEach((step, i) => {
        expect(decodeAll(decoder, hex(step.block)), `block ${i + 1}`).toEqual(step.headers);
        const table = dynamicTable(decoder);
        expect(table, `table after block ${i + 1}`).toEqual(step.table);
        expect(tableSize(table)).toBe(step.size);
      });
    });
  }
});

describe('HpackDecoder: dynamic table', () => {
  it('empties the table on a size update to 0, and accepts one back up to the limit', () => {
    const decoder = new HpackDecoder();
    decodeAll(decoder, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')); // C.3.1
    expect(dynamicTable(decoder)).toHaveLength(1);
    expect(decodeAll(decoder, hex('20 3f e1 1f 82'))).toEqual([[':method', 'GET']]); // sizes 0, then 4096
    expect(dynamicTable(decoder)).toEqual([]);
  });

  it('evicts oldest first, and an entry larger than the table empties it but is still emitted', () => {
    const decoder = new HpackDecoder(100);
    const incremental = (name: string, value: string) =>
      Buffer.concat([Buffer.from([0x40]), literalHeaderField(name, value).subarray(1)]);
    decodeAll(decoder, incremental('a', 'x'.repeat(20))); // 53 octets
    decodeAll(decoder, incremental('b', 'y'.repeat(10))); // 43: 96 in all
    expect(dynamicTable(decoder)).toEqual([['b', 'y'.repeat(10)], ['a', 'x'.repeat(20)]]);
    decodeAll(decoder, incremental('c', '')); // 33: evicts a
    expect(dynamicTable(decoder)).toEqual([['c', ''], ['b', 'y'.repeat(10)]]);
    expect(decodeAll(decoder, incremental('d', 'z'.repeat(68)))).toEqual([['d', 'z'.repeat(68)]]); // 101 > 100
    expect(dynamicTable(decoder)).toEqual([]);
  });

  it('keeps a ring buffer of entries consistent over many insertions and evictions', () => {
    const decoder = new HpackDecoder(256);
    const incremental = (name: string, value: string) =>
      Buffer.concat([Buffer.from([0x40]), literalHeaderField(name, value).subarray(1)]);
    const expected: Field[] = [];
    for (let i = 0; i < 200; i++) {
      const field: Field = [`h${i}`, 'v'.repeat(i % 40)];
      decodeAll(decoder, incremental(...field));
      expected.unshift(field);
      while (tableSize(expected) > 256) expected.pop();
      expect(dynamicTable(decoder)).toEqual(expected);
    }
  });
});

describe('huffmanDecode', () => {
  it('round-trips every octet', () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    for (const value of [all, all.split('').reverse().join(''), '', 'a', '\0', '\xff'.repeat(50)]) {
      const encoded = huffmanEncode(value);
      expect(huffmanDecode(encoded, 0, encoded.length)).toBe(value);
    }
  });

  it('decodes a slice of a larger buffer', () => {
    const encoded = Buffer.concat([Buffer.from('garbage'), huffmanEncode('www.example.com'), Buffer.from([0x00])]);
    expect(huffmanDecode(encoded, 7, encoded.length - 1)).toBe('www.example.com');
  });
});

describe('HpackDecoder: malformed blocks', () => {
  it.each([
    { name: 'index 0', block: '80', message: /index 0 is not a valid/ },
    { name: 'index beyond the tables', block: 'be', message: /index 62 is beyond the header tables \(61 static \+ 0 dynamic\)/ },
    { name: 'literal name index beyond the tables', block: '0f 30 00', message: /index 63 is beyond/ },
    { name: 'integer cut off after the prefix', block: 'ff', message: /integer runs past the end/ },
    { name: 'integer cut off mid-continuation', block: 'ff 80', message: /integer runs past the end/ },
    { name: 'string length missing', block: '00', message: /integer runs past the end/ },
    { name: 'integer overflow', block: 'ff ff ff ff ff 0f', message: /integer exceeds 2\^30/ },
    { name: 'integer with too many continuation octets', block: 'ff 80 80 80 80 80 00', message: /integer exceeds/ },
    { name: 'string length beyond the block', block: '00 05 61 62', message: /string length 5 runs past the end of the block \(2 octets left\)/ },
    { name: 'Huffman padding longer than 7 bits', block: '00 81 ff 00', message: /padding is longer than 7 bits/ },
    { name: 'Huffman padding of a full octet after a symbol', block: '00 82 1f ff 00', message: /padding is longer than 7 bits/ },
    { name: 'Huffman padding not all ones', block: '00 81 00 00', message: /padding is not a prefix of EOS/ },
    { name: 'EOS in a Huffman string', block: '00 85 ff ff ff ff fc 00', message: /contains EOS/ },
    { name: 'table size update above the limit', block: '3f e2 1f', message: /table size update to 4097 exceeds the limit 4096/ },
    { name: 'table size update after a field', block: '82 20', message: /table size update after a header field/ },
  ])('$name', ({ block, message }) => {
    expectHpackError(() => decodeAll(new HpackDecoder(), hex(block)), message);
  });

  it('caps the decoded header list size, passing on only the fields within it', () => {
    const block = Buffer.concat([literalHeaderField('a', 'x'.repeat(30)), literalHeaderField('b', 'y'.repeat(30))]);
    const fields: Field[] = [];
    expect(new HpackDecoder(4096, 126).decode(block, (name, value) => fields.push([name, value]))).toBe(true); // 63 + 63
    expect(fields).toHaveLength(2);
    fields.length = 0;
    expect(new HpackDecoder(4096, 125).decode(block, (name, value) => fields.push([name, value]))).toBe(false);
    expect(fields).toEqual([['a', 'x'.repeat(30)]]);
    expect(new HpackDecoder().decode(literalHeaderField('x-big', 'z'.repeat(70_000)), () => undefined)).toBe(false);
  });

  it('keeps the dynamic table in step past the header list limit', () => {
    const decoder = new HpackDecoder(4096, 100);
    const indexed = Buffer.concat([Buffer.from([0x40]), literalHeaderField('x-late', 'v'.repeat(40)).subarray(1)]); // 79 octets
    expect(decoder.decode(Buffer.concat([literalHeaderField('x-first', 'y'.repeat(40)), indexed]), () => undefined)).toBe(false);
    expect(decodeAll(decoder, indexedHeaderField(62))).toEqual([['x-late', 'v'.repeat(40)]]);
  });

  it('counts the header list per block, not per connection', () => {
    const decoder = new HpackDecoder(4096, 100);
    for (let i = 0; i < 5; i++) expect(decodeAll(decoder, literalHeaderField('a', 'x'.repeat(60)))).toHaveLength(1);
  });

  it('keeps header values out of error messages', () => {
    const secret = 'secret-token-value';
    const incremental = Buffer.concat([Buffer.from([0x40]), literalHeaderField('x-token', secret).subarray(1)]);
    const error = expectHpackError(
      () => decodeAll(new HpackDecoder(), Buffer.concat([incremental, indexedHeaderField(70)])),
      /index 70 is beyond the header tables \(61 static \+ 1 dynamic\)/,
    );
    expect(error.message).not.toContain('secret');
    const truncated = Buffer.concat([Buffer.from([0x00, 0x07]), Buffer.from('x-token'), Buffer.from([0x20]), Buffer.from(secret)]);
    expect(expectHpackError(() => decodeAll(new HpackDecoder(), truncated), /string length 32/).message).not.toContain('secret');
  });
});

describe('encoder helpers', () => {
  it('produce the RFC 7541 representations', () => {
    expect(indexedHeaderField(2)).toEqual(hex('82'));
    expect(indexedHeaderField(127)).toEqual(hex('ff 00'));
    expect(indexedHeaderField(1337)).toEqual(hex('ff ba 09'));
    expect(literalWithIndexedName(4, '/sample/path')).toEqual(hex('040c 2f73 616d 706c 652f 7061 7468')); // C.2.2
    expect(literalWithIndexedName(15, '')).toEqual(hex('0f 00 00'));
    expect(literalHeaderField('password', 'secret')).toEqual(hex('0008 7061 7373 776f 7264 0673 6563 7265 74'));
  });

  it('round-trip through the decoder, including multi-octet lengths, without touching the dynamic table', () => {
    const longName = `x-${'n'.repeat(200)}`;
    const longValue = 'v'.repeat(20_000);
    const block = Buffer.concat([
      indexedHeaderField(8),
      literalWithIndexedName(31, 'application/grpc'),
      literalWithIndexedName(61, longValue),
      literalHeaderField('grpc-status', '0'),
      literalHeaderField(longName, ''),
      literalHeaderField('', 'empty-name'),
      literalHeaderField('latin1', 'caf\xe9 \xff'),
      literalHeaderField(longName, longValue),
    ]);
    const decoder = new HpackDecoder();
    expect(decodeAll(decoder, block)).toEqual([
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['www-authenticate', longValue],
      ['grpc-status', '0'],
      [longName, ''],
      ['', 'empty-name'],
      ['latin1', 'caf\xe9 \xff'],
      [longName, longValue],
    ]);
    expect(dynamicTable(decoder)).toEqual([]);
  });

  it('reject bad indexes and non-latin1 text', () => {
    for (const index of [0, -1, 1.5, 2 ** 31]) expect(() => indexedHeaderField(index)).toThrow(RangeError);
    expect(() => literalWithIndexedName(0, 'x')).toThrow(RangeError);
    expect(() => literalHeaderField('x-emoji', '\u{1f600}')).toThrow(RangeError);
    expect(() => literalHeaderField('\u0100', 'x')).toThrow(RangeError);
  });
});

describe('HpackDecoder: interop with nghttp2 (node:http2 client)', () => {
  const PREFACE_LENGTH = 24;
  const HEADERS = 0x1;
  const SETTINGS = 0x4;
  const CONTINUATION = 0x9;
  const END_HEADERS = 0x4;
  const PADDED = 0x8;
  const PRIORITY = 0x20;
  const ACK = 0x1;

  it('decodes request header blocks that use Huffman coding, the dynamic table and eviction', async () => {
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    const requests: Record<string, string>[] = Array.from({ length: 24 }, (_, i) => ({
      ':method': 'POST',
      ':path': `/meshid.v1.Authz/Method${i % 3}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-token': 'a'.repeat(200), // multi-octet string length, indexed after the first request
      'x-request-id': `req-${i}`,
      [`x-filler-${i}`]: `${i}:`.padEnd(300, 'abcdefgh'), // 24 x ~340 octets overflows 4 KiB: evictions
      'x-printable': printable,
      'x-secret': `never-indexed-${i}`,
      authorization: 'Bearer abc.def.ghi',
    }));

    const decoder = new HpackDecoder();
    const blocks: { length: number; fields: Field[] }[] = [];
    const sockets = new Set<net.Socket>();
    let settled: (error?: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      settled = (error) => (error ? reject(error) : resolve());
    });

    const server = net.createServer((socket) => {
      sockets.add(socket);
      // nghttp2 sends requests without waiting for the server's SETTINGS, but a real server sends them first.
      socket.write(Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]));
      let buffered = Buffer.alloc(0);
      let prefaceSeen = false;
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (!prefaceSeen) {
          if (buffered.length < PREFACE_LENGTH) return;
          buffered = buffered.subarray(PREFACE_LENGTH);
          prefaceSeen = true;
        }
        let pos = 0;
        try {
          while (pos + 9 <= buffered.length) {
            const length = buffered.readUIntBE(pos, 3);
            if (pos + 9 + length > buffered.length) break;
            const type = buffered[pos + 3];
            const flags = buffered[pos + 4];
            let payload = buffered.subarray(pos + 9, pos + 9 + length);
            pos += 9 + length;
            if (type === SETTINGS && !(flags & ACK)) socket.write(Buffer.from([0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]));
            if (type === CONTINUATION || (type === HEADERS && !(flags & END_HEADERS))) {
              throw new Error('unexpected CONTINUATION');
            }
            if (type !== HEADERS) continue;
            if (flags & PADDED) payload = payload.subarray(1, payload.length - payload[0]);
            if (flags & PRIORITY) payload = payload.subarray(5);
            blocks.push({ length: payload.length, fields: decodeAll(decoder, payload) });
            if (blocks.length === requests.length) settled();
          }
        } catch (err) {
          settled(err as Error);
        }
        buffered = buffered.subarray(pos);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    try {
      for (const headers of requests) {
        const stream = client.request({ ...headers, [http2.sensitiveHeaders]: ['x-secret'] });
        stream.on('error', () => {});
      }
      await done;
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }

    expect(blocks).toHaveLength(requests.length);
    blocks.forEach(({ fields }, i) => {
      const expected: Field[] = [...Object.entries(requests[i]), [':scheme', 'http'], [':authority', `127.0.0.1:${port}`]];
      expect(fields.toSorted(), `request ${i}`).toEqual(expected.toSorted());
    });
    // The second request refers to the first one's long token through the dynamic table.
    expect(blocks[1].length).toBeLessThan(blocks[0].length - 100);
  });
});
