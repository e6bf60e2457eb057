import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchange, grpcMessage, RawClient, requestHeaders } from '../../test/http2/raw-client.js';
import { requirePeer } from '../../test/peers/peers.js';
import { FrameFlag, FrameType, H2Error, encodeFrame } from './frames.js';
import { invalidArgument, permissionDenied } from '../errors.js';
import { createUnaryGrpcServer, type UnaryCall, type UnaryGrpcServer } from './grpc-unary-server.js';
import { literalHeaderField } from './hpack.js';

const logLines: Array<Record<string, unknown>> = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });

let dir: string;
let socketPath: string;
let server: UnaryGrpcServer;
let listener: net.Server;
let slowCall: { started?: () => void } = {};

const echoReversed = (call: UnaryCall) => Buffer.from(call.message).reverse();

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-h2-'));
  socketPath = path.join(dir, 'grpc.sock');
  server = createUnaryGrpcServer({
    log,
    maxMessageBytes: 4 * 1024 * 1024,
    handlers: new Map<string, (call: UnaryCall) => Buffer | Promise<Buffer>>([
      ['/test.Echo/Reverse', echoReversed],
      ['/test.Echo/Metadata', (call) => Buffer.from(JSON.stringify(call.metadata))],
      ['/test.Echo/Big', (call) => Buffer.alloc(call.message.readUInt32BE(0), 0x61)],
      ['/test.Echo/Refuse', () => { throw invalidArgument('csr: not PEM (line 1)'); }],
      ['/test.Echo/RefuseLater', async () => { throw permissionDenied('denied: no ALLOW policy matched ✗ 100%'); }],
      ['/test.Echo/Bug', () => { throw new Error('secret-internal-detail'); }],
    ]),
  });
  listener = net.createServer((socket) => server.accept(socket));
  await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
});

afterAll(async () => {
  listener.close();
  await server.close(1000);
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  logLines.length = 0;
  slowCall = {};
});

/** A grpc-js client calling with raw bytes. */
function grpcJsCall(method: string, message: Buffer, metadata = new grpc.Metadata()): Promise<Buffer> {
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, message, metadata, (err, value) => (err ? reject(err) : resolve(value!)));
  }).finally(() => client.close());
}

describe('unary gRPC over HTTP/2 with real clients', () => {
  it('answers grpc-js calls, with the handler seeing the message and metadata', async () => {
    expect((await grpcJsCall('/test.Echo/Reverse', Buffer.from('abc'))).toString()).toBe('cba');
    expect((await grpcJsCall('/test.Echo/Reverse', Buffer.alloc(0))).length).toBe(0);
    const metadata = new grpc.Metadata();
    metadata.add('authorization', 'Bearer t0k');
    metadata.add('x-multi', 'a');
    metadata.add('x-multi', 'b');
    const seen = JSON.parse((await grpcJsCall('/test.Echo/Metadata', Buffer.alloc(0), metadata)).toString()) as Record<string, string>;
    expect(seen.authorization).toBe('Bearer t0k');
    expect(seen['x-multi']).toBe('a, b');
    expect(seen['content-type']).toBeUndefined(); // transport headers are not metadata
    expect(seen[':path']).toBeUndefined();
  });

  it('maps handler errors to gRPC statuses, hiding unexpected ones', async () => {
    await expect(grpcJsCall('/test.Echo/Refuse', Buffer.alloc(1))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'csr: not PEM (line 1)' });
    await expect(grpcJsCall('/test.Echo/RefuseLater', Buffer.alloc(1))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'denied: no ALLOW policy matched ✗ 100%' });
    const bug = grpcJsCall('/test.Echo/Bug', Buffer.alloc(1));
    await expect(bug).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'internal error in /test.Echo/Bug; see the server log' });
    await expect(bug).rejects.not.toMatchObject({ details: expect.stringContaining('secret') });
    expect(logLines.some((l) => l.msg === 'unexpected error in handler')).toBe(true);
    await expect(grpcJsCall('/test.Echo/Nope', Buffer.alloc(1))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED, details: 'unknown method /test.Echo/Nope' });
  });

  it('moves multi-megabyte requests and responses through flow control both ways', async () => {
    const request = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < request.length; i++) request[i] = i % 251;
    const reversed = await grpcJsCall('/test.Echo/Reverse', request);
    expect(reversed.equals(Buffer.from(request).reverse())).toBe(true);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(2 * 1024 * 1024 + 3);
    const big = await grpcJsCall('/test.Echo/Big', size);
    expect(big.length).toBe(2 * 1024 * 1024 + 3);
  });

  it('refuses a message over the limit with RESOURCE_EXHAUSTED and keeps serving', async () => {
    await expect(grpcJsCall('/test.Echo/Reverse', Buffer.alloc(4 * 1024 * 1024 + 1))).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'request message larger than the 4194304-byte limit',
    });
    expect((await grpcJsCall('/test.Echo/Reverse', Buffer.from('ok'))).toString()).toBe('ko');
  });

  it('serves many concurrent calls on one connection', async () => {
    const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
    try {
      const replies = await Promise.all(
        Array.from({ length: 300 }, (_, i) => new Promise<string>((resolve, reject) =>
          client.makeUnaryRequest('/test.Echo/Reverse', (b: Buffer) => b, (b: Buffer) => b, Buffer.from(`call-${i}`), (err, value) => (err ? reject(err) : resolve(value!.toString()))),
        )),
      );
      expect(replies).toEqual(Array.from({ length: 300 }, (_, i) => [...`call-${i}`].reverse().join('')));
    } finally {
      client.close();
    }
  });

  it('serves grpc-go (grpc-load) under load without errors', async () => {
    const requests = path.join(dir, 'requests.bin');
    const message = Buffer.from('hello grpc-go');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(message.length);
    writeFileSync(requests, Buffer.concat([length, message]));
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(requirePeer('grpc-load'), ['-target', `unix://${socketPath}`, '-method', '/test.Echo/Reverse', '-requests', requests, '-concurrency', '16', '-connections', '2', '-duration', '1s', '-warmup', '0s']);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
    });
    const result = JSON.parse(output) as { calls: number; errors: number };
    expect(result.errors).toBe(0);
    expect(result.calls).toBeGreaterThan(100);
  });
});

describe('unary gRPC over HTTP/2: protocol edge cases', () => {
  it('answers a request split over HEADERS + CONTINUATION, padded frames, and PING', async () => {
    const client = await RawClient.connect(socketPath);
    const block = requestHeaders('/test.Echo/Reverse');
    const padded = (payload: Buffer, pad: number) => Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(pad)]);
    const message = grpcMessage(Buffer.from('xyz'));
    const response = await exchange(client, 1, [
      encodeFrame(FrameType.HEADERS, FrameFlag.PADDED, 1, padded(block.subarray(0, 10), 3)),
      encodeFrame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, block.subarray(10)),
      encodeFrame(FrameType.DATA, FrameFlag.PADDED, 1, padded(message.subarray(0, 6), 4)),
      encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 1, message.subarray(6)),
    ]);
    expect(response.headers.get(':status')).toBe('200');
    expect(response.headers.get('content-type')).toBe('application/grpc');
    expect(response.data.equals(grpcMessage(Buffer.from('zyx')))).toBe(true);
    expect(response.trailers?.get('grpc-status')).toBe('0');

    const ping = Buffer.from('12345678');
    client.socket.write(encodeFrame(FrameType.PING, 0, 0, ping));
    const pong = await client.next();
    expect(pong).toMatchObject({ type: FrameType.PING, flags: FrameFlag.ACK });
    expect(pong!.payload.equals(ping)).toBe(true);
    client.socket.destroy();
  });

  it('answers early (unknown method) and ignores the rest of that request, staying usable', async () => {
    const client = await RawClient.connect(socketPath);
    const early = await exchange(client, 1, [encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, requestHeaders('/test.Echo/Nope'))]);
    expect(early.headers.get('grpc-status')).toBe(String(grpc.status.UNIMPLEMENTED));
    const reset = await client.next();
    expect(reset).toMatchObject({ type: FrameType.RST_STREAM, streamId: 1 });
    expect(reset!.payload.readUInt32BE(0)).toBe(H2Error.NO_ERROR);
    // The client had already sent the rest: a DATA frame and trailers (which still feed the HPACK state).
    client.socket.write(Buffer.concat([
      encodeFrame(FrameType.DATA, 0, 1, grpcMessage(Buffer.from('late'))),
      encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, Buffer.from([0x40, 0x01, 0x78, 0x01, 0x79])), // x: y, indexed
    ]));
    const next = await exchange(client, 3, [
      encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, Buffer.concat([requestHeaders('/test.Echo/Metadata'), Buffer.from([0xbe])])), // 0xbe: dynamic entry 62, x: y
      encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 3, grpcMessage(Buffer.alloc(0))),
    ]);
    expect(JSON.parse(next.data.subarray(5).toString())).toEqual({ x: 'y' });
    client.socket.destroy();
  });

  it.each([
    ['a compressed message', [grpcMessage(Buffer.from('x'), true)], grpc.status.UNIMPLEMENTED, 'compressed request messages are not supported; send grpc-encoding identity'],
    ['no message', [], grpc.status.INTERNAL, 'the request carried no gRPC message'],
    ['two messages', [grpcMessage(Buffer.from('a')), grpcMessage(Buffer.from('b'))], grpc.status.INTERNAL, 'unary request must hold exactly one message (declared 1 bytes, received 7)'],
  ])('answers %s with a gRPC status', async (_name, bodies, code, message) => {
    const client = await RawClient.connect(socketPath);
    const frames = [encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, requestHeaders('/test.Echo/Reverse')), encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 1, ...bodies)];
    const response = await exchange(client, 1, frames);
    expect(response.headers.get('grpc-status')).toBe(String(code));
    expect(decodeURIComponent(response.headers.get('grpc-message') ?? '')).toBe(message);
    client.socket.destroy();
  });

  it.each([
    ['GET', 'application/grpc', '405'],
    ['POST', 'text/plain', '415'],
  ])('answers :method %s with content-type %s as HTTP %s', async (method, contentType, status) => {
    const client = await RawClient.connect(socketPath);
    const block = Buffer.concat([
      literalHeaderField(':method', method),
      literalHeaderField(':scheme', 'http'),
      literalHeaderField(':path', '/test.Echo/Reverse'),
      literalHeaderField('content-type', contentType),
    ]);
    const response = await exchange(client, 1, [encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, block)]);
    expect(response.headers.get(':status')).toBe(status);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.data.toString()).toMatch(new RegExp(`^${status} .*send POST requests with content-type application/grpc\n$`));
    client.socket.destroy();
  });

  it.each([
    ['an HTTP/1.1 request', false, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], null, /not an HTTP\/2 client/],
    ['a frame above the maximum size', true, [Buffer.from([0x00, 0x40, 0x01, FrameType.DATA, 0, 0, 0, 0, 1])], H2Error.FRAME_SIZE_ERROR, /exceeds SETTINGS_MAX_FRAME_SIZE/],
    ['DATA on stream 0', true, [encodeFrame(FrameType.DATA, 0, 0, Buffer.from('x'))], H2Error.PROTOCOL_ERROR, /DATA on stream 0/],
    ['an even stream id', true, [encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 2, requestHeaders('/test.Echo/Reverse'))], H2Error.PROTOCOL_ERROR, /client streams are odd/],
    ['a broken header block', true, [encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from([0x80]))], H2Error.COMPRESSION_ERROR, /HPACK/],
    ['an interrupted header block', true, [encodeFrame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])), encodeFrame(FrameType.DATA, 0, 1, Buffer.from('x'))], H2Error.PROTOCOL_ERROR, /interrupted before END_HEADERS/],
    ['a PUSH_PROMISE', true, [encodeFrame(FrameType.PUSH_PROMISE, FrameFlag.END_HEADERS, 1, Buffer.alloc(4))], H2Error.PROTOCOL_ERROR, /PUSH_PROMISE/],
    ['a zero WINDOW_UPDATE', true, [encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))], H2Error.PROTOCOL_ERROR, /increment of 0/],
  ])('closes the connection on %s, logs why, and keeps serving others', async (_name, handshake, frames, code, reason) => {
    const client = await RawClient.connect(socketPath, handshake);
    client.socket.write(Buffer.concat(frames));
    if (code !== null) {
      const goaway = await client.goaway();
      expect(goaway.code).toBe(code);
      expect(goaway.debug).toMatch(reason);
    }
    while ((await client.next()) !== null);
    expect(client.closed).toBe(true);
    expect(logLines.find((l) => l.msg === 'closing gRPC connection: the client broke the HTTP/2 protocol')?.reason).toMatch(reason);
    expect((await grpcJsCall('/test.Echo/Reverse', Buffer.from('still up'))).toString()).toBe('pu llits');
  });

  it('closes gracefully: a call in flight is answered, then the connection ends', async () => {
    let release = () => {};
    const started = new Promise<void>((resolve) => {
      slowCall.started = resolve;
    });
    const local = createUnaryGrpcServer({
      log,
      handlers: new Map([['/test.Echo/Slow', (call: UnaryCall) => new Promise<Buffer>((resolve) => {
        release = () => resolve(Buffer.from(call.message));
        slowCall.started?.();
      })]]),
    });
    const localPath = path.join(dir, 'graceful.sock');
    const localListener = net.createServer((socket) => local.accept(socket));
    await new Promise<void>((resolve) => localListener.listen(localPath, resolve));
    const client = new grpc.Client(`unix:${localPath}`, grpc.credentials.createInsecure());
    const call = new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest('/test.Echo/Slow', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('in flight'), (err, value) => (err ? reject(err) : resolve(value!))),
    );
    await started;
    localListener.close();
    const closed = local.close(5000);
    expect(local.connections).toBe(1); // still open: the call is in flight
    release();
    expect((await call).toString()).toBe('in flight');
    await closed;
    expect(local.connections).toBe(0);
    client.close();
  });
});
