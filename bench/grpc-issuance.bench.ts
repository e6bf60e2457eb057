/**
 * X509-SVID issuance over gRPC: the real CA server (in this process, main thread) answering
 * IstioCertificateService/CreateCertificate over TLS to istio-agent-style clients (Bearer service-account
 * token, jwt mode) running in a worker thread, so server and clients each get a core of the 2-core target.
 * Printed beside the raw node:crypto ECDSA P-256 sign and verify rates of the same run.
 */
import { sign, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { readCaServerConfig } from '../ca-server/config.js';
import { startCaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair } from '../core/x509/keys.js';
import type { ProtoGrpcType as IstioProto } from '../protos/gen/ca.js';
import type { IstioCertificateServiceClient } from '../protos/gen/istio/v1/auth/IstioCertificateService.js';
import { loadProto } from '../protos/load.js';
import { JwtIssuer } from '../test/support/jwt-issuer.js';
import { describeMachine, measureAsync, measureSync, printTable, type Measurement } from './harness.js';

const TARGET_PER_SEC = 2000;
const CSR_POOL_SIZE = 500;
const SECONDS = 4;
const WARMUP = 200;
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Channels (separate TLS connections) x calls in flight on each. */
const SHAPES = [
  { channels: 1, perChannel: 1 },
  { channels: 4, perChannel: 4 },
  { channels: 8, perChannel: 8 },
  { channels: 16, perChannel: 4 },
];

interface ClientSetup {
  target: string;
  bundlePem: string;
  token: string;
  csrs: string[];
}

type ToWorker = { run: (typeof SHAPES)[number] } | { done: true };

/** Worker thread: istio-agent-style clients driving the server. */
async function clientWorker(setup: ClientSetup): Promise<void> {
  const proto = loadProto<IstioProto>('istio/v1/auth/ca.proto');
  const perRpc = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${setup.token}`);
    callback(null, metadata);
  });
  const credentials = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(Buffer.from(setup.bundlePem)), perRpc);
  const newClient = () =>
    new proto.istio.v1.auth.IstioCertificateService(setup.target, credentials, {
      'grpc.ssl_target_name_override': 'localhost',
      // One TLS connection per client, not one shared by all clients of the same target.
      'grpc.use_local_subchannel_pool': 1,
    });
  const createCertificate = (client: IstioCertificateServiceClient, csr: string) =>
    new Promise<void>((resolve, reject) =>
      client.CreateCertificate({ csr, validity_duration: 3600 }, (err, res) => {
        if (err) reject(err);
        else if (res?.cert_chain.length !== 3) reject(new Error('unexpected chain'));
        else resolve();
      }),
    );

  parentPort!.on('message', (message: ToWorker) => {
    if ('done' in message) {
      parentPort!.close();
      return;
    }
    const { channels, perChannel } = message.run;
    const clients = Array.from({ length: channels }, newClient);
    measureAsync(
      `gRPC CreateCertificate ${channels} ch x ${perChannel} in flight`,
      (i) => createCertificate(clients[i % channels]!, setup.csrs[i % setup.csrs.length]!),
      { seconds: SECONDS, warmup: WARMUP, concurrency: channels * perChannel },
    ).then(
      (row) => {
        for (const client of clients) client.close();
        parentPort!.postMessage(row);
      },
      (err: unknown) => {
        throw err;
      },
    );
  });
}

/** Main thread: the CA server, the raw crypto rows, and the table. */
async function main(): Promise<void> {
  console.log(`gRPC issuance benchmark: ${describeMachine()}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-bench-'));
  // RS256: what kube-apiserver signs service-account tokens with by default.
  const jwt = await JwtIssuer.create({ issuer: ISSUER, alg: 'RS256' });
  const jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwt.jwks()));
  const config = readCaServerConfig({
    trustDomain: 'bench.example',
    dataDir: path.join(dir, 'data'),
    listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'admin.sock') },
    kubernetes: { mode: 'jwt', issuer: ISSUER, jwksFile, audiences: ['meshid'] },
  });
  // Production log level (info: one line per issued SVID), written to /dev/null so the terminal is not the bottleneck.
  const log = createLogger({ name: 'meshid-ca', level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const server = await startCaServer(config, log);

  const csrs: string[] = [];
  for (let i = 0; i < CSR_POOL_SIZE; i++) csrs.push(createCsrPem(generateKeyPair('ec-p256')));
  const token = await jwt.mintServiceAccountToken({ namespace: 'bench', serviceAccount: 'workload', audiences: ['meshid'] });

  const rows: Measurement[] = rawCrypto();
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { target: `127.0.0.1:${server.grpcPort}`, bundlePem: server.bundle().toPem(), token, csrs } satisfies ClientSetup,
  });
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  const costs: string[] = [];
  for (const shape of SHAPES) {
    const row = new Promise<Measurement>((resolve) => worker.once('message', resolve));
    const [elu, cpu] = [performance.eventLoopUtilization(), process.cpuUsage()];
    worker.postMessage({ run: shape } satisfies ToWorker);
    const measured = await Promise.race([row, failed]);
    rows.push(measured);
    // Wall-clock rates depend on what else the machine runs; these two show where the time went.
    const used = process.cpuUsage(cpu);
    const calls = measured.ops + WARMUP;
    costs.push(
      `${measured.name}: server event loop ${(100 * performance.eventLoopUtilization(elu).utilization).toFixed(0)}% busy, ` +
        `process CPU ${Math.round((used.user + used.system) / calls)} µs per call (server + clients + thread pool)`,
    );
  }
  worker.postMessage({ done: true } satisfies ToWorker);
  await server.close();
  await rm(dir, { recursive: true, force: true });

  printTable('X509-SVID issuance over gRPC/TLS (server: main thread, clients: one worker thread)', rows, rows[0]);
  console.log(`\n${costs.join('\n')}`);
  const best = rows.slice(2).reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const verdict = best.opsPerSec >= TARGET_PER_SEC ? 'met' : 'MISSED';
  console.log(`\nover-gRPC target >= ${TARGET_PER_SEC.toLocaleString('en-US')} SVIDs/s: ${verdict} (best: ${best.name}, ${Math.round(best.opsPerSec).toLocaleString('en-US')}/s)`);
}

/** Raw ECDSA P-256 over a TBS-sized message: what issuance is measured against. */
function rawCrypto(): Measurement[] {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const message = Buffer.alloc(450, 0x5a);
  const signature = sign('sha256', message, privateKey);
  return [
    measureSync('raw ECDSA P-256 sign', () => sign('sha256', message, privateKey), { seconds: 2 }),
    measureSync('raw ECDSA P-256 verify', () => verify('sha256', message, publicKey, signature), { seconds: 2 }),
  ];
}

if (isMainThread) await main();
else await clientWorker(workerData as ClientSetup);
