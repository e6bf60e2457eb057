import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { IdentitySource } from '../../node-agent/identity-source.js';
import { startWorkloadEndpoints } from '../../node-agent/sockets/workload-endpoints.js';
import { authorization, CaFixture, expectStatus, grpcError, newCsr, rpc } from '../ca-server/fixture.js';

/** Opens a raw connection and keeps it flowing, so a close by the server is seen. */
function rawConnection(target: { port: number } | { path: string }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = ('path' in target ? connect(target.path) : connect(target.port, '127.0.0.1')).resume();
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: Socket) => new Promise((resolve) => socket.once('close', resolve));

describe('CA listeners', () => {
  let ca: CaFixture;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ca = await CaFixture.start({
      kubernetes: 'jwt',
      config: { limits: { grpc: { maxConnections: 2 }, adminSocket: { maxConnections: 1 }, metrics: { maxConnections: 1 } } },
    });
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await ca?.close();
  });

  async function refusals(limit: string): Promise<number> {
    return (await ca.server.metrics.rateLimited.get()).values.find((v) => v.labels.limit === limit)?.value ?? 0;
  }

  it('answers a request over limits.grpc.maxMessageSize (256 KiB) with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const client = ca.istioClient();
    const bearer = authorization(`Bearer ${await ca.saToken('shop', 'web')}`);
    await expectStatus(
      rpc(client, client.CreateCertificate, { csr: 'x'.repeat(300_000) }, bearer),
      status.RESOURCE_EXHAUSTED,
      /^Received message larger than max \(300\d{3} vs 262144\)$/,
    );
    const answer = await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer);
    expect(answer.cert_chain.length).toBeGreaterThan(1);
    client.close();
  });

  it('refuses gRPC connections over limits.grpc.maxConnections; the open ones keep working', async () => {
    const client = ca.istioClient();
    const bearer = authorization(`Bearer ${await ca.saToken('shop', 'web')}`);
    await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer);
    const hog = await rawConnection({ port: ca.server.grpcPort });
    sockets.push(hog);
    const refused = await rawConnection({ port: ca.server.grpcPort });
    await closed(refused);
    expect(await refusals('grpc.maxConnections')).toBe(1);
    // a new client cannot get in; the connected one is served
    const late = ca.istioClient();
    expect((await grpcError(rpc(late, late.CreateCertificate, { csr: (await newCsr()).csr }, bearer))).code).toBe(status.UNAVAILABLE);
    late.close();
    await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer);
    client.close();
  });

  it('refuses admin socket connections over limits.adminSocket.maxConnections', async () => {
    const admin = ca.adminClient();
    await rpc(admin, admin.ListAgents, {});
    const refused = await rawConnection({ path: ca.server.adminSocket });
    await closed(refused);
    expect(await refusals('adminSocket.maxConnections')).toBe(1);
    await rpc(admin, admin.ListAgents, {});
    admin.close();
  });

  it('refuses ops HTTP connections over limits.metrics.maxConnections', async () => {
    const hog = await rawConnection({ port: ca.server.metricsPort });
    sockets.push(hog);
    const refused = await rawConnection({ port: ca.server.metricsPort });
    await closed(refused);
    expect(await refusals('metrics.maxConnections')).toBe(1);
  });
});

describe('node agent workload sockets', () => {
  it('refuse connections over limits.workloadSockets.maxConnections', async () => {
    const socketDir = await mkdtemp(path.join(tmpdir(), 'meshid-sockets-'));
    let refusedCount = 0;
    const endpoints = await startWorkloadEndpoints({
      socketDir,
      mode: 'k8s',
      // no call is made: only connections are counted
      source: {} as IdentitySource,
      log: createLogger({ name: 'meshid-agent', level: 'silent' }),
      limits: { maxConnections: 1, maxConcurrentStreams: 10, maxMessageBytes: 1024, maxConnectionIdleMs: 60_000 },
      onConnectionRefused: () => refusedCount++,
    });
    try {
      const socket = endpoints.socketPath([]);
      const open = await rawConnection({ path: socket });
      const refused = await rawConnection({ path: socket });
      await closed(refused);
      expect(refusedCount).toBe(1);
      expect(open.destroyed).toBe(false);
      open.destroy();
    } finally {
      await endpoints.close();
      await rm(socketDir, { recursive: true, force: true });
    }
  });
});
