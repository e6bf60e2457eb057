/**
 * HTTP/2 frame layout and constants (RFC 9113 §4, §6, §7), and encoders for the frames a server sends.
 * Every frame is a 9-byte header (24-bit length, type, flags, 31-bit stream id) and its payload.
 */

export const FRAME_HEADER_BYTES = 9;

/** The 24 octets every HTTP/2 client sends first (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum FrameFlag {
  END_STREAM = 0x1,
  // eslint-disable-next-line @typescript-eslint/no-duplicate-enum-values -- HTTP/2 gives bit 0 both meanings, by frame type
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const enum H2Error {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  ENHANCE_YOUR_CALM = 0xb,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

/** Flow-control windows start here and may not exceed MAX_WINDOW (RFC 9113 §6.9). */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;
/** The largest frame payload a peer may send before SETTINGS_MAX_FRAME_SIZE says otherwise. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_FRAME_SIZE_LIMIT = 2 ** 24 - 1;

/** One frame: its header followed by the payload parts, in one buffer. */
export function encodeFrame(type: FrameType, flags: number, streamId: number, ...payload: Buffer[]): Buffer {
  let length = 0;
  for (const part of payload) length += part.length;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out.writeUIntBE(length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId, 5);
  let offset = FRAME_HEADER_BYTES;
  for (const part of payload) offset += part.copy(out, offset);
  return out;
}

export function encodeSettings(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return encodeFrame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0);

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function encodeRstStream(streamId: number, code: H2Error): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function encodeGoaway(lastStreamId: number, code: H2Error, debug = ''): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload, Buffer.from(debug, 'utf8'));
}
