/**
 * One fuzzed HTTP/2 connection over loopback TCP, driven by events only: write the client's bytes (cut
 * into separate writes) and a PING probe, wait for what the server owes (the probe's ACK, a GOAWAY, or its
 * own close), then half-close and collect everything the server sent until the socket closes.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { encodeFrame, FLAG, PREFACE, splitFrames, TYPE, DEFAULT_MAX_FRAME } from './h2-wire.js';

/** What the server must do with a byte stream, read by the test-side frame splitter. */
export type Expectation =
  /** Answer the probe or end with GOAWAY. */
  | 'answer'
  /** As 'answer', or just close: the client sent GOAWAY first. */
  | 'answerOrClose'
  /** Close without reading frames: no HTTP/2 preface. */
  | 'closes'
  /** Nothing yet: a frame (or the preface) is incomplete. */
  | 'waits';

export function probeFrame(probe: Buffer): Buffer {
  return encodeFrame({ type: TYPE.PING, flags: 0, streamId: 0, payload: probe });
}

/** `bytes` already ends with probeFrame(probe). */
export function expectation(bytes: Buffer): Expectation {
  const head = bytes.subarray(0, PREFACE.length);
  if (!PREFACE.subarray(0, head.length).equals(head)) return 'closes';
  if (head.length < PREFACE.length) return 'waits';
  const split = splitFrames(bytes, PREFACE.length, DEFAULT_MAX_FRAME);
  const clientGoaway = split.frames.some((f) => f.type === TYPE.GOAWAY && (split.oversized === undefined || f.start < split.oversized));
  if (clientGoaway) return 'answerOrClose';
  if (split.oversized !== undefined) return 'answer'; // FRAME_SIZE_ERROR
  if (split.partial > 0) return 'waits';
  const last = split.frames.at(-1);
  return last && last.start === bytes.length - 17 && last.type === TYPE.PING ? 'answer' : 'waits'; // the probe was swallowed
}

export interface Exchange {
  received: Buffer;
  /** The server ended its side before the client did. */
  serverClosedFirst: boolean;
  error: Error | undefined;
  /** The server neither answered nor closed within STUCK_MS. */
  stuck: boolean;
}

/** Far beyond a loopback round trip: only a server that never answers gets here. */
const STUCK_MS = 5000;

const answered = (received: Buffer, probe: Buffer) =>
  splitFrames(received).frames.some((f) => f.type === TYPE.GOAWAY || (f.type === TYPE.PING && f.flags & FLAG.ACK && f.payload.equals(probe)));

export async function exchange(port: number, bytes: Buffer, cuts: number[], probe: Buffer, expect: Expectation): Promise<Exchange> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let serverEnded = false;
  let clientEnded = false;
  let error: Error | undefined;
  let wake: () => void = () => undefined;
  const received = () => Buffer.concat(chunks);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    wake();
  });
  socket.on('end', () => {
    if (!clientEnded) serverEnded = true;
    wake();
  });
  socket.on('error', (err) => {
    error = err;
    wake();
  });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (socket.destroyed) break;
    await new Promise<void>((resolve) => socket.write(bytes.subarray(from, cut), () => resolve()));
    from = cut;
  }
  let stuck = false;
  if (expect !== 'waits') {
    // until the server owes nothing more for this stream; the timer only turns a hang into a failure
    await new Promise<void>((resolve) => {
      const watchdog = setTimeout(() => {
        stuck = true;
        resolve();
      }, STUCK_MS);
      wake = () => {
        if (serverEnded || error || socket.destroyed || (expect !== 'closes' && answered(received(), probe))) {
          clearTimeout(watchdog);
          resolve();
        }
      };
      wake();
    });
  }
  clientEnded = true;
  if (!socket.destroyed) socket.end();
  await closed;
  return { received: received(), serverClosedFirst: serverEnded, error, stuck };
}

/** A well-formed unary call from node:http2 (nghttp2): the server still serves after the fuzzed connection. */
export async function wellFormedCall(port: number, method: string, message: Buffer): Promise<{ status: string | undefined; grpcStatus: string | undefined; body: Buffer }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined); // surfaces through the request
  try {
    const request = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    request.end(Buffer.concat([prefix, message]));
    const body: Buffer[] = [];
    let status: string | undefined;
    let grpcStatus: string | undefined;
    request.on('response', (headers) => {
      status = String(headers[':status']);
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
    });
    request.on('trailers', (trailers) => (grpcStatus = String(trailers['grpc-status'])));
    request.on('data', (chunk: Buffer) => body.push(chunk));
    await new Promise<void>((resolve, reject) => request.once('close', resolve).once('error', reject));
    return { status, grpcStatus, body: Buffer.concat(body) };
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()));
  }
}
