/**
 * X509-SVID issuance over gRPC: the real CA server (this process) answering
 * IstioCertificateService/CreateCertificate over TLS to istio-agent-shaped clients: grpc-load, a grpc-go
 * client in its own process (istio-agent is Go), sending a Bearer service-account token (jwt mode) and a
 * fresh CSR per call. Printed beside the raw node:crypto ECDSA P-256 sign and verify rates of the same run.
 */
import { sign, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import pino from 'pino';
import { readCaServerConfig } from '../ca-server/config.js';
import { startCaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair } from '../core/x509/keys.js';
import type { ProtoGrpcType as IstioProto } from '../protos/gen/ca.js';
import { loadProto } from '../protos/load.js';
import { JwtIssuer } from '../test/support/jwt-issuer.js';
import { runGrpcLoad } from './grpc-load.js';
import { describeMachine, measureSync, printTable, type Measurement } from './harness.js';

const TARGET_PER_SEC = 2000;
const CSR_POOL_SIZE = 500;
const SECONDS = 4;
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** TLS connections x calls in flight in total. */
const SHAPES = [
  { connections: 1, concurrency: 1 },
  { connections: 4, concurrency: 16 },
  { connections: 8, concurrency: 64 },
  { connections: 16, concurrency: 128 },
];

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

  const createCertificate = loadProto<IstioProto>('istio/v1/auth/ca.proto').istio.v1.auth.IstioCertificateService.service.CreateCertificate;
  const messages: Buffer[] = [];
  for (let i = 0; i < CSR_POOL_SIZE; i++) messages.push(createCertificate.requestSerialize({ csr: createCsrPem(generateKeyPair('ec-p256')), validity_duration: 3600 }));
  const token = await jwt.mintServiceAccountToken({ namespace: 'bench', serviceAccount: 'workload', audiences: ['meshid'] });

  const rows: Measurement[] = rawCrypto();
  const costs: string[] = [];
  try {
    for (const { connections, concurrency } of SHAPES) {
      const [elu, cpu] = [performance.eventLoopUtilization(), process.cpuUsage()];
      const row = await runGrpcLoad(`gRPC CreateCertificate, ${connections} conn, ${concurrency} in flight`, {
        target: `127.0.0.1:${server.grpcPort}`,
        method: createCertificate.path,
        messages,
        connections,
        concurrency,
        seconds: SECONDS,
        tls: { caPem: server.bundle().toPem(), serverName: 'localhost' },
        bearerToken: token,
      });
      rows.push(row);
      // Wall-clock rates depend on what else the machine runs; these show where the server's time went.
      const used = process.cpuUsage(cpu);
      const calls = row.ops * (1 + 1 / SECONDS); // the measured calls plus about a second of warm-up
      costs.push(
        `${row.name}: server event loop ${(100 * performance.eventLoopUtilization(elu).utilization).toFixed(0)}% busy, ` +
          `server CPU about ${Math.round((used.user + used.system) / calls)} µs per call`,
      );
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }

  printTable('X509-SVID issuance over gRPC/TLS (server: this process; clients: grpc-load, grpc-go in another process)', rows, rows[0]);
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

await main();
