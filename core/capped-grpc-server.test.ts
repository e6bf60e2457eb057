import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CappedGrpcServer, type ListenTarget } from './capped-grpc-server.js';
import type { GrpcListenerLimits } from './listener-limits.js';

const bytes = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (name: string) => ({
  path: `/meshid.test.Limits/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes.serialize,
  requestDeserialize: bytes.deserialize,
  responseSerialize: bytes.serialize,
  responseDeserialize: bytes.deserialize,
});
/** Echo answers at once; Hold answers when the test releases it. */
const SERVICE = { Echo: method('Echo'), Hold: method('Hold') } satisfies grpc.ServiceDefinition;
const LimitsClient = grpc.makeGenericClientConstructor(SERVICE, 'Limits');
type Client = InstanceType<typeof LimitsClient>;

const LIMITS: GrpcListenerLimits = { maxConnections: 100, maxConcurrentStreams: 100, maxMessageBytes: 4096, maxConnectionIdleMs: 60_000 };

interface Harness {
  server: CappedGrpcServer;
  address: string;
  /** Resolves a held call per release(); `held` counts calls that reached the Hold handler. */
  held: { count: number; next: Promise<void>; release(): void };
  refused: number;
  client(): Client;
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const done of cleanup.splice(0)) done();
});

async function start(limits: Partial<GrpcListenerLimits>, target: ListenTarget = { host: '127.0.0.1', port: 0 }): Promise<Harness> {
  const harness = { refused: 0 } as Harness;
  const server = new CappedGrpcServer({ ...LIMITS, ...limits }, {}, () => harness.refused++);
  const releases: (() => void)[] = [];
  let arrived: () => void = () => {};
  harness.held = {
    count: 0,
    next: new Promise<void>((r) => (arrived = r)),
    release: () => releases.shift()!(),
  };
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
    Hold: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      harness.held.count++;
      releases.push(() => callback(null, Buffer.alloc(0)));
      const wake = arrived;
      harness.held.next = new Promise<void>((r) => (arrived = r));
      wake();
    },
  });
  const port = await server.listen(target, grpc.ServerCredentials.createInsecure());
  harness.server = server;
  harness.address = 'path' in target ? `unix:${target.path}` : `127.0.0.1:${port}`;
  // Each client its own connection: grpc-js otherwise shares one subchannel between identical channels.
  harness.client = () => {
    const client = new LimitsClient(harness.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    cleanup.push(() => client.close());
    return client;
  };
  cleanup.push(() => server.forceShutdown());
  return harness;
}

/** One call; `waitForReady` makes it wait (up to 20 s) for a connection instead of failing on the first refusal. */
function call(client: Client, name: 'Echo' | 'Hold', body: Buffer = Buffer.from('hi'), waitForReady = false): Promise<Buffer> {
  const metadata = new grpc.Metadata();
  metadata.setOptions({ waitForReady });
  const options: grpc.CallOptions = { deadline: Date.now() + 20_000 };
  return new Promise((resolve, reject) => {
    const unary = client[name] as (req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void;
    unary.call(client, body, metadata, options, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => {
      throw new Error('the call succeeded but was expected to fail');
    },
    (err: grpc.ServiceError) => err,
  );
}

describe('CappedGrpcServer', () => {
  it('answers a message over the cap with RESOURCE_EXHAUSTED and keeps serving the connection', async () => {
    const h = await start({ maxMessageBytes: 4096 });
    const client = h.client();
    const err = await failure(call(client, 'Echo', Buffer.alloc(5000)));
    expect({ code: grpc.status[err.code], details: err.details }).toEqual({
      code: 'RESOURCE_EXHAUSTED',
      details: 'Received message larger than max (5000 vs 4096)',
    });
    expect((await call(client, 'Echo', Buffer.alloc(4096, 1))).length).toBe(4096);
  });

  it('advertises maxConcurrentStreams; calls beyond it wait for a free stream, other connections are unaffected', async () => {
    const h = await start({ maxConcurrentStreams: 2 });
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      const session = http2.connect(`http://${h.address}`);
      session.once('error', reject);
      session.once('remoteSettings', (s) => {
        session.close();
        resolve(s);
      });
    });
    expect(settings.maxConcurrentStreams).toBe(2);

    const client = h.client();
    let arrived = h.held.next;
    const first = call(client, 'Hold');
    await arrived;
    arrived = h.held.next;
    const second = call(client, 'Hold');
    await arrived;
    arrived = h.held.next;
    const third = call(client, 'Hold');
    // a call on another connection goes through while the third waits for a stream on its own
    await call(h.client(), 'Echo');
    expect(h.held.count).toBe(2);
    h.held.release();
    await first;
    await arrived;
    expect(h.held.count).toBe(3);
    h.held.release();
    h.held.release();
    await Promise.all([second, third]);
  });

  it('closes connections over maxConnections at once; the open ones keep working', async () => {
    const h = await start({ maxConnections: 2 });
    const [a, b] = [h.client(), h.client()];
    await call(a, 'Echo');
    await call(b, 'Echo');
    const err = await failure(call(h.client(), 'Echo'));
    expect(grpc.status[err.code]).toBe('UNAVAILABLE');
    expect(h.refused).toBeGreaterThanOrEqual(1);
    await call(a, 'Echo');
    await call(b, 'Echo');
  });

  it('caps connections on a Unix socket too, and closes an idle one to free its place', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshid-capped-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const h = await start({ maxConnections: 1, maxConnectionIdleMs: 200 }, { path: path.join(dir, 'test.sock') });
    const open = await rawConnection(path.join(dir, 'test.sock'));
    const refused = await rawConnection(path.join(dir, 'test.sock'));
    await new Promise((resolve) => refused.once('close', resolve));
    expect(h.refused).toBe(1);
    expect(open.destroyed).toBe(false);
    // a connection that never makes a call is closed by the server after maxConnectionIdle, and its place taken
    await new Promise((resolve) => open.once('close', resolve));
    expect((await call(h.client(), 'Echo', Buffer.from('again'), true)).toString()).toBe('again');
  });
});

function rawConnection(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // flowing, so the server closing it is seen as 'close'
    const socket = connect(socketPath, () => resolve(socket)).resume();
    socket.once('error', reject);
  });
}
