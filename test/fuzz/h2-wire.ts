/**
 * HTTP/2 framing (RFC 9113 section 4) on the test side, apart from core/http2/frames.ts: building the
 * client's byte stream and splitting what either side sent into frames.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
export const DEFAULT_MAX_FRAME = 16_384;

export const TYPE = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export function encodeFrame({ type, flags, streamId, payload }: Frame): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, payload]);
}

export function settingsPayload(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const out = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], i) => {
    out.writeUInt16BE(id & 0xffff, 6 * i);
    out.writeUInt32BE(value >>> 0, 6 * i + 2);
  });
  return out;
}

export interface Split {
  frames: (Frame & { start: number })[];
  /** Octets after the last whole frame (a frame the reader is still waiting for). */
  partial: number;
  /** Offset of the first frame header declaring more than `maxFrame` octets, if any. */
  oversized: number | undefined;
}

/** Splits `buf[from..]` into frames; stops at the first oversized header (a reader must refuse it). */
export function splitFrames(buf: Buffer, from = 0, maxFrame = Infinity): Split {
  const frames: Split['frames'] = [];
  let at = from;
  while (buf.length - at >= FRAME_HEADER) {
    const length = buf.readUIntBE(at, 3);
    if (length > maxFrame) return { frames, partial: buf.length - at, oversized: at };
    if (at + FRAME_HEADER + length > buf.length) break;
    frames.push({ type: buf[at + 3]!, flags: buf[at + 4]!, streamId: buf.readUInt32BE(at + 5) & 0x7fffffff, payload: buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length), start: at });
    at += FRAME_HEADER + length;
  }
  return { frames, partial: buf.length - at, oversized: undefined };
}
