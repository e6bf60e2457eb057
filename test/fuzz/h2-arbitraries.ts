/**
 * Client byte streams for the HTTP/2 server target. Mostly a plausible conversation, so requests reach
 * the handlers and answers, flow control and HPACK state get exercised: the preface, SETTINGS, requests
 * on rising odd streams (HPACK blocks from the test encoder, split over CONTINUATION, padded,
 * prioritised; DATA in pieces; trailers), control frames with valid fields. Mixed in: requests with wrong
 * fields, frames with every field free, and byte-level mutations of the whole stream.
 */
import fc from 'fast-check';
import { encodeBlock, type Representation } from './hpack-reference.js';
import { encodeFrame, FLAG, FRAME_HEADER, PREFACE, SETTING, settingsPayload, TYPE, type Frame } from './h2-wire.js';
import { edits, mutateBytes } from './mutate.js';

export const METHODS = ['/fuzz.Echo/Echo', '/fuzz.Echo/Async', '/fuzz.Echo/Refuse'];

/** Nine times in ten the valid choice. */
const usually = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>) => fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const u31 = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));
const latin1 = (maxLength: number) => bytes(maxLength).map((b) => b.toString('latin1'));
/** A long run of one octet: lengths that need several HPACK integer octets, and answers that may outgrow a frame. */
const longText = (maxLength: number) => fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 100, max: maxLength })).map(([c, n]) => String.fromCharCode(c).repeat(n));
/**
 * Unknown paths come back percent-encoded in grpc-message, up to 6 octets each: paths this long would overflow
 * the answer's frame if the server did not cut grpc-message (the regression test in h2-server.test.ts).
 */
const MAX_RANDOM_PATH = 6000;

// ---- requests -------------------------------------------------------------------------------------------

const headerName = usually(fc.constantFrom('x-user', 'authorization', 'grpc-timeout', 'x-trace-bin', 'user-agent'), fc.constantFrom('constructor', '__proto__', 'X-Upper', 'connection', ':bogus', 'a b', 'te', 'content-length'));
const headerValue = usually(fc.constantFrom('1', 'alice', '1S', '250m', 'Bearer t0k'), fc.oneof(fc.constantFrom('bogus', '', ' padded ', 'a\r\nb', '99999999H'), latin1(12), longText(6000)));
const literal = (name: number | string, value: string, indexing: 'incremental' | 'without' | 'never', huffman: boolean): Representation => ({ kind: 'literal', indexing, name, value, huffman, pad: 0 });

/** A request header block: the gRPC fields (each now and then wrong or missing) and metadata, in HPACK. */
const requestBlock = fc
  .record({
    method: usually(fc.constant('POST'), fc.constantFrom('GET', 'HEAD', 'CONNECT')),
    scheme: usually(fc.constant('http'), fc.constantFrom('https', undefined)),
    path: usually(fc.constantFrom(...METHODS), fc.oneof(fc.constantFrom('/fuzz.Echo/Missing', ''), longText(MAX_RANDOM_PATH).map((t) => `/${t}`))),
    contentType: usually(fc.constantFrom('application/grpc', 'application/grpc+proto'), fc.constantFrom('text/plain', undefined)),
    extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }),
    indexing: fc.constantFrom('incremental' as const, 'without' as const, 'never' as const),
    huffman: fc.boolean(),
    pseudoLast: usually(fc.constant(false), fc.constant(true)),
  })
  .map(({ method, scheme, path, contentType, extra, indexing, huffman, pseudoLast }) => {
    const pseudo: Representation[] = [
      method === 'POST' ? { kind: 'indexed', index: 3, pad: 0 } : literal(2, method, indexing, huffman), // :method
      ...(scheme ? [literal(6, scheme, indexing, huffman)] : []),
      literal(4, path, indexing, huffman),
      literal(1, 'fuzz', indexing, huffman), // :authority
    ];
    const regular = [...(contentType ? [literal(31, contentType, indexing, huffman)] : []), literal('te', 'trailers', indexing, huffman), ...extra.map(([n, v]) => literal(n, v, indexing, huffman))];
    return encodeBlock(pseudoLast ? [...regular, ...pseudo] : [...pseudo, ...regular]).block;
  });

/** HEADERS, maybe PADDED and with PRIORITY, then CONTINUATION frames: one block split `parts` ways. */
function headerFrames(block: Buffer, id: number, o: { parts: number; endStream: boolean; padding: number | null; priority: boolean }): Frame[] {
  const size = Math.ceil(block.length / o.parts) || 1;
  const fragments = Array.from({ length: o.parts }, (_, i) => block.subarray(i * size, (i + 1) * size));
  const first = Buffer.concat([
    ...(o.padding !== null ? [Buffer.of(o.padding)] : []),
    ...(o.priority ? [Buffer.of(0, 0, 0, 0, 16)] : []),
    fragments[0]!,
    Buffer.alloc(o.padding ?? 0),
  ]);
  const flags = (o.parts === 1 ? FLAG.END_HEADERS : 0) | (o.endStream ? FLAG.END_STREAM : 0) | (o.padding !== null ? FLAG.PADDED : 0) | (o.priority ? FLAG.PRIORITY : 0);
  const last = o.parts - 2;
  return [{ type: TYPE.HEADERS, flags, streamId: id, payload: first }, ...fragments.slice(1).map((payload, i) => ({ type: TYPE.CONTINUATION, flags: i === last ? FLAG.END_HEADERS : 0, streamId: id, payload }))];
}

/** The gRPC message framing: compressed flag, 4-octet length (now and then a lie), the message. */
function grpcMessage(message: Buffer, declared: number | null, compressed: boolean): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(declared ?? message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** One request on stream `id`: headers, body in DATA pieces (maybe padded), maybe trailers. */
const request = fc
  .record({
    block: usually(requestBlock, bytes(40)),
    parts: usually(fc.constant(1), fc.integer({ min: 2, max: 3 })),
    padding: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }) }),
    priority: usually(fc.constant(false), fc.constant(true)),
    headersOnly: usually(fc.constant(false), fc.constant(true)),
    message: usually(bytes(64), longText(6000).map((t) => Buffer.from(t, 'latin1'))),
    declared: usually(fc.constant(null), u32),
    compressed: usually(fc.constant(false), fc.constant(true)),
    pieces: fc.integer({ min: 1, max: 3 }),
    dataPadding: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    trailers: usually(fc.constant(false), fc.constant(true)),
    end: usually(fc.constant(true), fc.constant(false)),
  })
  .map((r) => (id: number): Frame[] => {
    const frames = headerFrames(r.block, id, { parts: r.parts, endStream: r.headersOnly, padding: r.padding, priority: r.priority });
    if (r.headersOnly) return frames;
    const body = grpcMessage(r.message, r.declared, r.compressed);
    const size = Math.ceil(body.length / r.pieces);
    for (let i = 0; i < r.pieces; i++) {
      const piece = body.subarray(i * size, (i + 1) * size);
      const last = i === r.pieces - 1 && !r.trailers && r.end;
      const payload = r.dataPadding === null ? piece : Buffer.concat([Buffer.of(r.dataPadding), piece, Buffer.alloc(r.dataPadding)]);
      frames.push({ type: TYPE.DATA, flags: (last ? FLAG.END_STREAM : 0) | (r.dataPadding === null ? 0 : FLAG.PADDED), streamId: id, payload });
    }
    if (r.trailers) frames.push(...headerFrames(encodeBlock([literal('x-trailer', '1', 'without', false)]).block, id, { parts: 1, endStream: r.end, padding: null, priority: false }));
    return frames;
  });

// ---- connection-level frames ----------------------------------------------------------------------------

const word32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const validSetting = fc.oneof(
  fc.tuple(fc.constant(SETTING.HEADER_TABLE_SIZE), fc.integer({ min: 0, max: 8192 })),
  fc.tuple(fc.constant(SETTING.ENABLE_PUSH), fc.integer({ min: 0, max: 1 })),
  fc.tuple(fc.constant(SETTING.MAX_CONCURRENT_STREAMS), fc.integer({ min: 0, max: 1000 })),
  fc.tuple(fc.constant(SETTING.INITIAL_WINDOW_SIZE), fc.oneof(fc.constantFrom(0, 1, 16, 65_535, 2 ** 31 - 1), u31)),
  fc.tuple(fc.constant(SETTING.MAX_FRAME_SIZE), fc.oneof(fc.constantFrom(16_384, 2 ** 24 - 1), fc.integer({ min: 16_384, max: 2 ** 24 - 1 }))),
  fc.tuple(fc.constant(SETTING.MAX_HEADER_LIST_SIZE), u32),
);
const anySetting = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.oneof(fc.constantFrom(0, 16_383, 2 ** 24, 2 ** 31), u32));
const settings = (setting: fc.Arbitrary<[number, number]>) => fc.array(setting, { maxLength: 4 }).map((pairs): Frame => ({ type: TYPE.SETTINGS, flags: 0, streamId: 0, payload: settingsPayload(pairs) }));
const settingsAck: Frame = { type: TYPE.SETTINGS, flags: FLAG.ACK, streamId: 0, payload: Buffer.alloc(0) };

/** Control frames with valid fields; `id` is a stream the client opened. */
const validControl = fc.oneof(
  bytes(8).map((b) => () => ({ type: TYPE.PING, flags: 0, streamId: 0, payload: Buffer.concat([b, Buffer.alloc(8 - b.length)]) })),
  fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 1 << 20 })).map(([connection, n]) => (id: number) => ({ type: TYPE.WINDOW_UPDATE, flags: 0, streamId: connection ? 0 : id, payload: word32(n) })),
  settings(validSetting).map((f) => () => f),
  fc.constant(() => settingsAck),
  fc.constant((id: number) => ({ type: TYPE.PRIORITY, flags: 0, streamId: id, payload: Buffer.of(0, 0, 0, 0, 15) })),
  fc.constantFrom(0, 8).map((code) => (id: number) => ({ type: TYPE.RST_STREAM, flags: 0, streamId: id, payload: word32(code) })),
);

/** Frames with their fields free: wrong lengths, streams, flags, types. */
const streamId = fc.oneof(fc.integer({ min: 0, max: 8 }), u31);
const hostileFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant(TYPE.PING), flags: fc.constantFrom(0, FLAG.ACK), streamId: fc.constantFrom(0, 1), payload: bytes(12) }),
  fc.record({ type: fc.constant(TYPE.WINDOW_UPDATE), flags: fc.constant(0), streamId, payload: fc.oneof(fc.constantFrom(0, 2 ** 31 - 1, 2 ** 32 - 1).map(word32), bytes(6)) }),
  fc.record({ type: fc.constantFrom(TYPE.RST_STREAM, TYPE.PRIORITY, TYPE.GOAWAY, TYPE.PUSH_PROMISE, TYPE.CONTINUATION, TYPE.DATA, TYPE.HEADERS), flags: fc.integer({ min: 0, max: 255 }), streamId, payload: bytes(12) }),
  settings(anySetting),
  fc.record({ type: fc.constant(TYPE.SETTINGS), flags: fc.integer({ min: 0, max: 255 }), streamId, payload: bytes(13) }),
  fc.record({ type: fc.integer({ min: 10, max: 255 }), flags: fc.integer({ min: 0, max: 255 }), streamId, payload: bytes(16) }), // unknown types are ignored
);

type Step = { kind: 'request'; frames: (id: number) => Frame[]; misplaced: number | null } | { kind: 'control'; frames: (id: number) => Frame } | { kind: 'hostile'; frame: Frame };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('request' as const), frames: request, misplaced: usually(fc.constant(null), streamId) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('control' as const), frames: validControl }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), frame: hostileFrame }) },
);

/** Requests go on streams 1, 3, 5, ... (a misplaced one anywhere); control frames name the latest stream. */
function conversation(steps: Step[]): Frame[] {
  const out: Frame[] = [];
  let next = 1;
  for (const s of steps) {
    if (s.kind === 'request') {
      const id = s.misplaced ?? next;
      next += 2;
      out.push(...s.frames(id));
    } else if (s.kind === 'control') out.push(s.frames(Math.max(1, next - 2)));
    else out.push(s.frame);
  }
  return out;
}

export interface ClientStream {
  bytes: Buffer;
  /** Where the stream is cut into separate writes. */
  cuts: number[];
}

/** The client's whole byte stream: preface, SETTINGS, the conversation; a quarter mutated at the byte level. */
export const clientStream: fc.Arbitrary<ClientStream> = fc
  .record({
    first: usually(settings(validSetting), fc.oneof(settings(anySetting), hostileFrame)),
    steps: fc.array(step, { maxLength: 8 }),
    mutate: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: edits(3) }),
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
  })
  .map(({ first, steps, mutate, cuts }) => {
    const encoded = [first, ...conversation(steps)].map(encodeFrame);
    let body: Buffer = Buffer.concat(encoded);
    if (mutate) {
      const landmarks: number[] = []; // every frame header octet
      let at = 0;
      for (const f of encoded) {
        for (let i = 0; i < FRAME_HEADER; i++) landmarks.push(at + i);
        at += f.length;
      }
      body = mutateBytes(body, mutate, landmarks);
    }
    const all = Buffer.concat([PREFACE, body]);
    return { bytes: all, cuts: cuts.map((c) => c % (all.length + 1)).sort((a, b) => a - b) };
  });

/** A byte stream whose preface is damaged: the server must close without reading frames. */
export const badPreface = fc.tuple(bytes(30), fc.nat()).map(([tail, at]): ClientStream => {
  const all = Buffer.concat([PREFACE, tail]);
  all[at % PREFACE.length]! ^= 0x20;
  return { bytes: all, cuts: [] };
});
