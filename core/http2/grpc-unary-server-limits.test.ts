// The limits that make the unary gRPC server safe to face any client: streams, header lists, flow-control
// windows, write backpressure, floods, timeouts, connections. Each server here runs with small limits.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { exchange, grpcMessage, RawClient, requestHeaders, type Frame } from '../../test/http2/raw-client.js';
import { CLIENT_PREFACE, FrameFlag, FrameType, H2Error, MAX_WINDOW, Setting, encodeFrame, encodeRstStream, encodeSettings, encodeWindowUpdate } from './frames.js';
import { createUnaryGrpcServer, WRITE_HIGH_WATER, type UnaryGrpcOptions, type UnaryHandler } from './grpc-unary-server.js';
import { literalHeaderField } from './hpack.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-h2-limits-'));
const logLines: Array<Record<string, unknown>> = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  logLines.length = 0;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Calls a handler has started and not yet been released from, in order. */
class SlowCalls {
  private readonly started: Array<(release: (response: Buffer) => void) => void> = [];
  private readonly releases: Array<(response: Buffer) => void> = [];
  readonly handler: UnaryHandler = () =>
    new Promise<Buffer>((resolve) => {
      const waiter = this.started.shift();
      if (waiter) waiter(resolve);
      else this.releases.push(resolve);
    });

  /** The release function of the next call to start. */
  next(): Promise<(response: Buffer) => void> {
    const ready = this.releases.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.started.push(resolve));
  }
}

let serial = 0;

/** A server on its own Unix socket; its accepted sockets are in `sockets`. */
async function startServer(options: Partial<UnaryGrpcOptions> & { handlers?: Map<string, UnaryHandler> }) {
  const server = createUnaryGrpcServer({
    log,
    handlers: new Map<string, UnaryHandler>([
      ['/test.Echo/Reverse', (call) => Buffer.from(call.message).reverse()],
      ['/test.Echo/Metadata', (call) => Buffer.from(JSON.stringify({ metadata: call.metadata, nullPrototype: Object.getPrototypeOf(call.metadata) === null }))],
    ]),
    ...options,
  });
  const socketPath = path.join(dir, `s${++serial}.sock`);
  const sockets: net.Socket[] = [];
  const accepted: Array<(socket: net.Socket) => void> = [];
  const listener = net.createServer((socket) => {
    sockets.push(socket);
    accepted.shift()?.(socket);
    server.accept(socket);
  });
  await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
  cleanups.push(async () => {
    listener.close();
    await server.close(200);
  });
  /** Resolves with the server side of the next connection. */
  const nextSocket = () => new Promise<net.Socket>((resolve) => accepted.push(resolve));
  return { server, socketPath, sockets, nextSocket };
}

async function connect(socketPath: string, handshake = true): Promise<RawClient> {
  const client = await RawClient.connect(socketPath, handshake);
  cleanups.push(async () => void client.socket.destroy());
  return client;
}

function settingsOf(frame: Frame | null): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; frame && i < frame.payload.length; i += 6) out.set(frame.payload.readUInt16BE(i), frame.payload.readUInt32BE(i + 2));
  return out;
}

const headers = (streamId: number, method: string, flags: number = FrameFlag.END_HEADERS, extra: Array<[string, string]> = []) =>
  encodeFrame(FrameType.HEADERS, flags, streamId, requestHeaders(method, extra));
const data = (streamId: number, payload: Buffer, flags: number = FrameFlag.END_STREAM) => encodeFrame(FrameType.DATA, flags, streamId, payload);
/** A complete unary request in one HEADERS and one DATA frame. */
const call = (streamId: number, method: string, message: Buffer, extra: Array<[string, string]> = []) => [headers(streamId, method, FrameFlag.END_HEADERS, extra), data(streamId, grpcMessage(message))];
const ping = (n: number) => encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, n));

/** Writes `bytes` while not reading (the server's answers back up), then reads again. */
async function writeWithoutReading(client: RawClient, bytes: Buffer): Promise<void> {
  client.socket.pause();
  await new Promise<void>((resolve) => client.socket.write(bytes, () => resolve()));
  client.socket.resume();
}

const warnings = (msg: string) => logLines.filter((l) => l.level === 40 && l.msg === msg);

describe('streams and header lists', () => {
  it('advertises its limits in SETTINGS', async () => {
    const { socketPath } = await startServer({ maxConcurrentStreams: 7, maxHeaderListBytes: 2048 });
    const client = await connect(socketPath);
    const settings = settingsOf(client.serverSettings);
    expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(7);
    expect(settings.get(Setting.MAX_HEADER_LIST_SIZE)).toBe(2048);
    expect(settings.get(Setting.INITIAL_WINDOW_SIZE)).toBe(1 << 20);
    expect(settings.get(Setting.ENABLE_PUSH)).toBe(0);
  });

  it('refuses streams beyond maxConcurrentStreams; a stream reset while its handler runs keeps its slot', async () => {
    const slow = new SlowCalls();
    const { socketPath } = await startServer({ maxConcurrentStreams: 2, handlers: new Map([['/test.Slow/Call', slow.handler], ['/test.Echo/Reverse', (c) => Buffer.from(c.message).reverse()]]) });
    const client = await connect(socketPath);
    client.socket.write(Buffer.concat([...call(1, '/test.Slow/Call', Buffer.from('one')), ...call(3, '/test.Slow/Call', Buffer.from('three'))]));
    const releaseOne = await slow.next();
    const releaseThree = await slow.next();
    client.socket.write(Buffer.concat(call(5, '/test.Echo/Reverse', Buffer.from('x'))));
    expect(await client.reset(5)).toBe(H2Error.REFUSED_STREAM);
    // Rapid reset: cancelling stream 1 does not free its slot while its handler still runs.
    client.socket.write(Buffer.concat([encodeRstStream(1, H2Error.CANCEL), ...call(7, '/test.Echo/Reverse', Buffer.from('x'))]));
    expect(await client.reset(7)).toBe(H2Error.REFUSED_STREAM);
    releaseOne(Buffer.from('late'));
    const nine = await exchange(client, 9, call(9, '/test.Echo/Reverse', Buffer.from('nine')));
    expect(nine.data.equals(grpcMessage(Buffer.from('enin')))).toBe(true);
    releaseThree(Buffer.from('three done'));
    const seen: number[] = [];
    for (let frame = await client.next(); frame && !(frame.streamId === 3 && frame.flags & FrameFlag.END_STREAM); frame = await client.next()) seen.push(frame.streamId);
    expect(seen).not.toContain(1); // the cancelled call's late answer is dropped
  });

  it('answers a header list over maxHeaderListBytes with RESOURCE_EXHAUSTED, keeping HPACK state for the next request', async () => {
    const { socketPath } = await startServer({ maxHeaderListBytes: 1024 });
    const client = await connect(socketPath);
    // After the oversized field, "x-after: v" goes into the dynamic table (literal with incremental indexing).
    const indexed = Buffer.concat([Buffer.from([0x40]), literalHeaderField('x-after', 'v').subarray(1)]);
    const big = encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, Buffer.concat([requestHeaders('/test.Echo/Metadata', [['x-big', 'b'.repeat(2000)]]), indexed]));
    const refused = await exchange(client, 1, [big]);
    expect(refused.headers.get('grpc-status')).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(decodeURIComponent(refused.headers.get('grpc-message')!)).toBe('request headers larger than 1024 bytes');
    const next = await exchange(client, 3, [
      encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, Buffer.concat([requestHeaders('/test.Echo/Metadata'), Buffer.from([0xbe])])), // 0xbe: dynamic entry 62
      data(3, grpcMessage(Buffer.alloc(0))),
    ]);
    expect(JSON.parse(next.data.subarray(5).toString()).metadata).toEqual({ 'x-after': 'v' });
  });

  it('closes with ENHANCE_YOUR_CALM when CONTINUATION frames pile up past the header list limit', async () => {
    const { socketPath } = await startServer({ maxHeaderListBytes: 8192 });
    const client = await connect(socketPath);
    const fragment = literalHeaderField('x-pad', 'p'.repeat(4000));
    client.socket.write(Buffer.concat([
      encodeFrame(FrameType.HEADERS, 0, 1, requestHeaders('/test.Echo/Reverse')),
      ...Array.from({ length: 3 }, () => encodeFrame(FrameType.CONTINUATION, 0, 1, fragment)),
    ]));
    const goaway = await client.goaway();
    expect(goaway).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, debug: 'header block larger than 8192 bytes' });
  });

  it('keeps request metadata prototype-free, so __proto__ and constructor headers are plain metadata', async () => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    const response = await exchange(client, 1, call(1, '/test.Echo/Metadata', Buffer.alloc(0), [['__proto__', 'polluted'], ['constructor', 'c1'], ['constructor', 'c2']]));
    const seen = JSON.parse(response.data.subarray(5).toString()) as { metadata: object; nullPrototype: boolean };
    expect(seen.nullPrototype).toBe(true);
    expect(Object.entries(seen.metadata)).toEqual([['__proto__', 'polluted'], ['constructor', 'c1, c2']]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each<[string, Array<[string, string]>]>([
    ['a header value with CR LF', [['x-v', 'a\r\nx-injected: secret-value']]],
    ['a header value with leading whitespace', [['x-v', ' secret-value']]],
    ['an upper-case header name', [['X-Secret', 'secret-value']]],
  ])('resets a request with %s (PROTOCOL_ERROR), logs why without the value, and serves the next one', async (_name, extra) => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    client.socket.write(Buffer.concat(call(1, '/test.Echo/Reverse', Buffer.from('x'), extra)));
    expect(await client.reset(1)).toBe(H2Error.PROTOCOL_ERROR);
    const warning = warnings('resetting gRPC stream: the client broke the HTTP/2 protocol')[0];
    expect(warning?.reason).toMatch(/header (name|value)/);
    expect(JSON.stringify(warning)).not.toContain('secret-value');
    const next = await exchange(client, 3, call(3, '/test.Echo/Reverse', Buffer.from('ok')));
    expect(next.data.equals(grpcMessage(Buffer.from('ko')))).toBe(true);
  });

  it('closes on a HEADERS frame above the maximum frame size', async () => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    const block = requestHeaders('/test.Echo/Reverse', [['x-pad', 'p'.repeat(16_400)]]);
    client.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, block));
    expect(await client.goaway()).toMatchObject({ code: H2Error.FRAME_SIZE_ERROR, debug: expect.stringMatching(/exceeds SETTINGS_MAX_FRAME_SIZE 16384/) });
  });
});

describe('flow control', () => {
  // maxMessageBytes 16 KiB: the connection window is the initial 65,535 bytes.
  const MESSAGE = Buffer.alloc(16_000 - 5, 0x61);

  it('returns connection credit once requests reach their handler, not when their bytes arrive', async () => {
    const { socketPath } = await startServer({ maxMessageBytes: 16 * 1024 });
    const client = await connect(socketPath);
    const streams = [1, 3, 5, 7];
    client.socket.write(Buffer.concat([...streams.flatMap((id) => [headers(id, '/test.Echo/Reverse'), data(id, grpcMessage(MESSAGE), 0)]), ping(1)]));
    const beforePong: Frame[] = [];
    for (let frame = await client.next(true); frame && frame.type !== FrameType.PING; frame = await client.next(true)) beforePong.push(frame);
    expect(beforePong.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0)).toEqual([]); // 64,000 bytes held, no credit yet
    client.socket.write(Buffer.concat(streams.map((id) => data(id, Buffer.alloc(0)))));
    let credit = 0;
    let answered = 0;
    while (answered < streams.length || credit < 64_000) {
      const frame = await client.next(true);
      if (!frame) throw new Error('closed');
      if (frame.type === FrameType.WINDOW_UPDATE && frame.streamId === 0) credit += frame.payload.readUInt32BE(0);
      if (frame.type === FrameType.HEADERS && frame.flags & FrameFlag.END_STREAM) answered++;
    }
    expect(credit).toBe(64_000);
  });

  it('assembles a request sent as thousands of one-byte DATA frames, and frames written byte by byte', async () => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    const message = grpcMessage(Buffer.from(Array.from({ length: 3000 }, (_, i) => 0x41 + (i % 26))));
    const frames = [headers(1, '/test.Echo/Reverse'), ...[...message].map((byte) => data(1, Buffer.from([byte]), 0)), data(1, Buffer.alloc(0))];
    const response = await exchange(client, 1, frames);
    expect(response.data.subarray(5).equals(Buffer.from(message.subarray(5)).reverse())).toBe(true);
    const bytes = Buffer.concat(call(3, '/test.Echo/Reverse', Buffer.from('trickled')));
    for (const byte of bytes) await new Promise<void>((resolve) => client.socket.write(Buffer.from([byte]), () => resolve()));
    const trickled = await exchange(client, 3, []);
    expect(trickled.data.equals(grpcMessage(Buffer.from('delkcirt')))).toBe(true);
  });

  it('closes with FLOW_CONTROL_ERROR when a client sends beyond the connection window', async () => {
    const { socketPath } = await startServer({ maxMessageBytes: 16 * 1024 });
    const client = await connect(socketPath);
    client.socket.write(Buffer.concat([1, 3, 5, 7, 9].flatMap((id) => [headers(id, '/test.Echo/Reverse'), data(id, grpcMessage(MESSAGE), 0)])));
    const goaway = await client.goaway();
    expect(goaway).toMatchObject({ code: H2Error.FLOW_CONTROL_ERROR, debug: 'DATA beyond the connection window' });
    expect(goaway.before.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0)).toEqual([]);
  });
});

describe('write backpressure', () => {
  it('stops reading from a client that does not read its responses, holding at most the high-water mark queued', async () => {
    const RESPONSE = 256 * 1024;
    const { socketPath, nextSocket } = await startServer({ handlers: new Map([['/test.Big/Get', () => Buffer.alloc(RESPONSE, 0x62)]]) });
    const accepted = nextSocket();
    const client = await connect(socketPath);
    const server = await accepted;
    const streams = Array.from({ length: 16 }, (_, i) => 2 * i + 1);
    client.socket.pause();
    client.socket.write(Buffer.concat([
      encodeSettings([[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]]),
      encodeWindowUpdate(0, MAX_WINDOW - 65_535),
      ...streams.flatMap((id) => call(id, '/test.Big/Get', Buffer.alloc(0))),
    ]));
    await new Promise((resolve) => server.once('pause', resolve));
    expect(server.writableLength).toBeGreaterThanOrEqual(WRITE_HIGH_WATER);
    expect(server.writableLength).toBeLessThan(WRITE_HIGH_WATER + 32 * 1024); // one DATA frame and a few HEADERS past it
    client.socket.resume();
    let complete = 0;
    const received = new Map<number, number>();
    while (complete < streams.length) {
      const frame = await client.next();
      if (!frame) throw new Error('closed');
      if (frame.type === FrameType.DATA) received.set(frame.streamId, (received.get(frame.streamId) ?? 0) + frame.payload.length);
      if (frame.type === FrameType.HEADERS && frame.flags & FrameFlag.END_STREAM) complete++;
    }
    expect([...received.values()]).toEqual(streams.map(() => RESPONSE + 5));
  });
});

describe('floods', () => {
  it.each([
    ['PING', () => Buffer.concat(Array.from({ length: 100_000 }, (_, i) => ping(i % 256))), /PING\/SETTINGS acknowledgements and RST_STREAMs queued/],
    ['SETTINGS', () => Buffer.concat(Array.from({ length: 200_000 }, () => encodeSettings([]))), /PING\/SETTINGS acknowledgements and RST_STREAMs queued/],
  ])('closes a %s flood from a client that does not read the acknowledgements with ENHANCE_YOUR_CALM', async (_name, flood, reason) => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    await writeWithoutReading(client, flood());
    const goaway = await client.goaway();
    expect(goaway).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, debug: expect.stringMatching(reason) });
    expect(warnings('closing gRPC connection: the client broke the HTTP/2 protocol')[0]?.reason).toMatch(reason);
  });

  it('answers a client that reads its PING acknowledgements, however many', async () => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    for (let round = 0; round < 5; round++) {
      client.socket.write(Buffer.concat(Array.from({ length: 500 }, (_, i) => ping(i % 256))));
      for (let i = 0; i < 500; i++) expect((await client.next())?.type).toBe(FrameType.PING);
    }
  });

  it('closes on rapid reset (HEADERS then RST_STREAM, over and over) with ENHANCE_YOUR_CALM', async () => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    const pairs = Array.from({ length: 1100 }, (_, i) => [headers(2 * i + 1, '/test.Echo/Reverse'), encodeRstStream(2 * i + 1, H2Error.CANCEL)]);
    client.socket.write(Buffer.concat(pairs.flat()));
    expect(await client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, debug: 'streams reset faster than 1000 at once or 33 a second' });
  });

  it.each([
    ['DATA', () => [headers(1, '/test.Echo/Reverse'), ...Array.from({ length: 1001 }, () => data(1, Buffer.alloc(0), 0))]],
    ['CONTINUATION', () => [encodeFrame(FrameType.HEADERS, 0, 1, requestHeaders('/test.Echo/Reverse')), ...Array.from({ length: 1001 }, () => encodeFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0)))]],
  ])('closes on a flood of empty %s frames with ENHANCE_YOUR_CALM', async (_name, frames) => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    client.socket.write(Buffer.concat(frames()));
    expect(await client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, debug: 'more than 1000 empty frames without a request' });
  });
});

describe('timeouts', () => {
  it('closes a connection that sends nothing within prefaceTimeoutMs', async () => {
    const { socketPath } = await startServer({ prefaceTimeoutMs: 100 });
    const client = await connect(socketPath, false);
    await new Promise((resolve) => client.socket.once('close', resolve));
    expect(warnings('closing gRPC connection: the client broke the HTTP/2 protocol')[0]?.reason).toBe('no HTTP/2 client preface and SETTINGS within 100 ms');
  });

  it('closes with GOAWAY a connection that sent the preface but no SETTINGS within prefaceTimeoutMs', async () => {
    const { socketPath } = await startServer({ prefaceTimeoutMs: 100 });
    const client = await connect(socketPath, false);
    client.socket.write(CLIENT_PREFACE);
    expect(await client.goaway()).toMatchObject({ code: H2Error.PROTOCOL_ERROR, debug: 'no HTTP/2 client preface and SETTINGS within 100 ms' });
    await client.closedByServer();
  });

  it('sends GOAWAY and closes a connection idle for idleTimeoutMs', async () => {
    const { socketPath } = await startServer({ idleTimeoutMs: 100 });
    const client = await connect(socketPath);
    const response = await exchange(client, 1, call(1, '/test.Echo/Reverse', Buffer.from('ab')));
    expect(response.data.equals(grpcMessage(Buffer.from('ba')))).toBe(true);
    expect(await client.goaway()).toMatchObject({ code: H2Error.NO_ERROR, debug: 'idle for 100 ms' });
    await client.closedByServer();
  });

  it('destroys a connection whose client stopped reading for idleTimeoutMs with responses queued', async () => {
    const { socketPath, nextSocket } = await startServer({ idleTimeoutMs: 200, handlers: new Map([['/test.Big/Get', () => Buffer.alloc(1 << 20)]]) });
    const accepted = nextSocket();
    const client = await connect(socketPath);
    const server = await accepted;
    client.socket.pause();
    client.socket.write(Buffer.concat([encodeSettings([[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]]), encodeWindowUpdate(0, MAX_WINDOW - 65_535), ...call(1, '/test.Big/Get', Buffer.alloc(0))]));
    await new Promise((resolve) => server.once('close', resolve));
    expect(warnings('destroying gRPC connection: the client stopped reading')).toHaveLength(1);
  });

  it('answers DEADLINE_EXCEEDED when the handler outlives grpc-timeout, and drops its late result', async () => {
    const slow = new SlowCalls();
    const { socketPath } = await startServer({ handlers: new Map([['/test.Slow/Call', slow.handler], ['/test.Echo/Reverse', (c) => Buffer.from(c.message).reverse()]]) });
    const client = await connect(socketPath);
    const timedOut = await exchange(client, 1, call(1, '/test.Slow/Call', Buffer.from('x'), [['grpc-timeout', '50m']]));
    expect(timedOut.headers.get('grpc-status')).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(timedOut.headers.get('grpc-message')).toBe('deadline exceeded');
    (await slow.next())(Buffer.from('too late'));
    const seen: number[] = [];
    client.socket.write(Buffer.concat(call(3, '/test.Echo/Reverse', Buffer.from('y'))));
    for (let frame = await client.next(); frame && !(frame.streamId === 3 && frame.flags & FrameFlag.END_STREAM); frame = await client.next()) seen.push(frame.streamId);
    expect(seen).not.toContain(1);
  });

  it('serves a call whose grpc-timeout is beyond what a timer can hold', async () => {
    const emitted: string[] = [];
    const onWarning = (warning: Error) => emitted.push(warning.name);
    process.on('warning', onWarning);
    const { socketPath } = await startServer({ handlers: new Map([['/test.Echo/Async', async (c) => Buffer.from(c.message)]]) });
    const client = await connect(socketPath);
    const response = await exchange(client, 1, call(1, '/test.Echo/Async', Buffer.from('z'), [['grpc-timeout', '99999999H']]));
    process.off('warning', onWarning);
    expect(response.trailers?.get('grpc-status')).toBe('0');
    expect(emitted).not.toContain('TimeoutOverflowWarning');
  });

  it.each(['1.5S', '123456789m', '10x', 'S'])('fails a call with the malformed grpc-timeout %j with INTERNAL', async (timeout) => {
    const { socketPath } = await startServer({});
    const client = await connect(socketPath);
    const response = await exchange(client, 1, call(1, '/test.Echo/Reverse', Buffer.from('x'), [['grpc-timeout', timeout]]));
    expect(response.headers.get('grpc-status')).toBe(String(grpc.status.INTERNAL));
    expect(decodeURIComponent(response.headers.get('grpc-message')!)).toBe('malformed grpc-timeout header');
  });
});

describe('connections', () => {
  it('turns connections beyond maxConnections away with GOAWAY ENHANCE_YOUR_CALM, and takes new ones once under it', async () => {
    const { server, socketPath, nextSocket } = await startServer({ maxConnections: 1 });
    const firstAccepted = nextSocket();
    const first = await connect(socketPath);
    const firstServerSide = await firstAccepted;
    const second = await connect(socketPath, false);
    second.socket.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([])]));
    expect(await second.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, debug: 'too many connections (limit 1)' });
    await second.closedByServer();
    expect(warnings('refusing gRPC connection: too many connections')).toHaveLength(1);
    expect((await exchange(first, 1, call(1, '/test.Echo/Reverse', Buffer.from('12')))).data.equals(grpcMessage(Buffer.from('21')))).toBe(true);
    first.socket.destroy();
    await new Promise((resolve) => firstServerSide.once('close', resolve));
    expect(server.connections).toBe(0);
    const third = await connect(socketPath);
    expect((await exchange(third, 1, call(1, '/test.Echo/Reverse', Buffer.from('34')))).data.equals(grpcMessage(Buffer.from('43')))).toBe(true);
  });
});
