// A hand-driven HTTP/2 client for protocol edge cases of core/http2: writes frames, reads frames back.
import net from 'node:net';
import { expect } from 'vitest';
import { CLIENT_PREFACE, FRAME_HEADER_BYTES, FrameFlag, FrameType, SETTINGS_ACK, encodeSettings } from '../../core/http2/frames.js';
import { HpackDecoder, literalHeaderField } from '../../core/http2/hpack.js';

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export class RawClient {
  private buffered = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  /** The server's first SETTINGS frame (after a handshake). */
  serverSettings: Frame | null = null;
  readonly decoder = new HpackDecoder();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to a Unix socket path or a 127.0.0.1 port; with `handshake`, sends the preface and SETTINGS. */
  static async connect(target: string | number, handshake = true): Promise<RawClient> {
    const socket = typeof target === 'string' ? net.connect(target) : net.connect(target, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const client = new RawClient(socket);
    if (handshake) {
      socket.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([])]));
      client.serverSettings = await client.next();
      expect(client.serverSettings?.type).toBe(FrameType.SETTINGS);
      socket.write(SETTINGS_ACK);
    }
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The next frame from the server, skipping SETTINGS ACK and (unless asked for) WINDOW_UPDATE; null once closed. */
  async next(windowUpdates = false): Promise<Frame | null> {
    for (;;) {
      if (this.buffered.length >= FRAME_HEADER_BYTES) {
        const length = this.buffered.readUIntBE(0, 3);
        if (this.buffered.length >= FRAME_HEADER_BYTES + length) {
          const frame = { type: this.buffered[3]!, flags: this.buffered[4]!, streamId: this.buffered.readUInt32BE(5), payload: this.buffered.subarray(9, 9 + length) };
          this.buffered = this.buffered.subarray(9 + length);
          const ack = frame.type === FrameType.SETTINGS && frame.flags & FrameFlag.ACK;
          if ((windowUpdates || frame.type !== FrameType.WINDOW_UPDATE) && !ack) return frame;
          continue;
        }
      }
      if (this.closed) return null;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Reads frames until GOAWAY; returns its error code and debug text, and the frames before it. */
  async goaway(): Promise<{ code: number; debug: string; before: Frame[] }> {
    const before: Frame[] = [];
    for (let frame = await this.next(true); frame; frame = await this.next(true)) {
      if (frame.type === FrameType.GOAWAY) return { code: frame.payload.readUInt32BE(4), debug: frame.payload.subarray(8).toString(), before };
      before.push(frame);
    }
    throw new Error('connection closed without GOAWAY');
  }

  /** Reads frames until an RST_STREAM on `streamId`; returns its error code. */
  async reset(streamId: number): Promise<number> {
    for (let frame = await this.next(); frame; frame = await this.next()) {
      if (frame.type === FrameType.RST_STREAM && frame.streamId === streamId) return frame.payload.readUInt32BE(0);
      if (frame.type === FrameType.GOAWAY) throw new Error(`GOAWAY instead of RST_STREAM: ${frame.payload.subarray(8).toString()}`);
    }
    throw new Error('connection closed without RST_STREAM');
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while ((await this.next(true)) !== null);
  }

  headers(block: Buffer): Map<string, string> {
    const out = new Map<string, string>();
    this.decoder.decode(block, (name, value) => out.set(name, value));
    return out;
  }
}

export const requestHeaders = (method: string, extra: Array<[string, string]> = []) =>
  Buffer.concat([
    literalHeaderField(':method', 'POST'),
    literalHeaderField(':scheme', 'http'),
    literalHeaderField(':path', method),
    literalHeaderField(':authority', 'localhost'),
    literalHeaderField('content-type', 'application/grpc'),
    ...extra.map(([n, v]) => literalHeaderField(n, v)),
  ]);

export function grpcMessage(payload: Buffer, compressed = false): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

export interface Exchange {
  headers: Map<string, string>;
  data: Buffer;
  trailers?: Map<string, string>;
  reset?: number;
}

/** Sends one request and collects the response: status headers, DATA, trailers. */
export async function exchange(client: RawClient, streamId: number, frames: Buffer[]): Promise<Exchange> {
  client.socket.write(Buffer.concat(frames));
  let headers: Map<string, string> | undefined;
  const data: Buffer[] = [];
  for (let frame = await client.next(); frame; frame = await client.next()) {
    if (frame.streamId !== streamId) continue;
    if (frame.type === FrameType.RST_STREAM && headers) return { headers, data: Buffer.concat(data), reset: frame.payload.readUInt32BE(0) };
    if (frame.type === FrameType.DATA) {
      data.push(frame.payload);
      if (frame.flags & FrameFlag.END_STREAM && headers) return { headers, data: Buffer.concat(data) };
    }
    if (frame.type !== FrameType.HEADERS) continue;
    const block = client.headers(frame.payload);
    if (!headers) headers = block;
    else return { headers, data: Buffer.concat(data), trailers: block };
    if (frame.flags & FrameFlag.END_STREAM) return { headers, data: Buffer.concat(data) };
  }
  throw new Error('connection closed mid-response');
}
