/**
 * X509-SVID issuance over gRPC: the real CA server (this process) answering
 * IstioCertificateService/CreateCertificate over TLS to istio-agent-shaped clients: grpc-load, a grpc-go
 * client in its own process (istio-agent is Go), sending a Bearer service-account token (jwt mode) and a
 * fresh CSR per call. Printed beside the raw node:crypto ECDSA P-256 sign and verify rates of the same run,
 * with the server's CPU per call: process.cpuUsage() of this process (every thread) over each shape, divided
 * by the SVIDs it issued meanwhile, and the event loop thread's share of it.
 * Each shape runs against two CAs in this process, one with the default abuse limits and one with the rate
 * limits and the refused-token cache switched off (`limits.*: off`), alternating which goes first, so their
 * ratio is the limits' cost measured under the same machine load.
 */
import { sign, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import pino from 'pino';
import { readCaServerConfig } from '../ca-server/config.js';
import { startCaServer, type CaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair } from '../core/x509/keys.js';
import type { ProtoGrpcType as IstioProto } from '../protos/gen/ca.js';
import { loadProto } from '../protos/load.js';
import { JwtIssuer } from '../test/support/jwt-issuer.js';
import { runGrpcLoad } from './grpc-load.js';
import { describeMachine, eventLoopThreadCpuMicros, measureSync, printTable, type Measurement } from './harness.js';

const TARGET_PER_SEC = 2000;
const TARGET_CPU_PER_CALL_US = 300;
const CSR_POOL_SIZE = 500;
const SECONDS = 4;
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** The rate limits' cost budget: limits on must reach this fraction of limits off. */
const LIMITS_COST_RATIO = 0.95;
const LIMIT_MODES = [
  { name: 'limits on', limits: {} },
  { name: 'limits off', limits: { attestationPerIp: 'off', signingPerAgent: 'off', signingPerIdentity: 'off', rejectedTokens: 'off' } },
] as const;

/** TLS connections x calls in flight in total. */
/** Untimed load per server before the measured shapes. */
const WARM_UP_SECONDS = 3;

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
  // Production log level (info: one line per issued SVID), written to /dev/null so the terminal is not the bottleneck.
  const log = createLogger({ name: 'meshid-ca', level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const servers: { mode: string; server: CaServer }[] = [];
  for (const mode of LIMIT_MODES) {
    const config = readCaServerConfig({
      trustDomain: 'bench.example',
      dataDir: path.join(dir, mode.name, 'data'),
      listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, mode.name, 'admin.sock') },
      kubernetes: { mode: 'jwt', issuer: ISSUER, jwksFile, audiences: ['meshid'] },
      limits: mode.limits,
    });
    servers.push({ mode: mode.name, server: await startCaServer(config, log) });
  }

  const createCertificate = loadProto<IstioProto>('istio/v1/auth/ca.proto').istio.v1.auth.IstioCertificateService.service.CreateCertificate;
  const messages: Buffer[] = [];
  for (let i = 0; i < CSR_POOL_SIZE; i++) messages.push(createCertificate.requestSerialize({ csr: createCsrPem(generateKeyPair('ec-p256')), validity_duration: 3600 }));
  const token = await jwt.mintServiceAccountToken({ namespace: 'bench', serviceAccount: 'workload', audiences: ['meshid'] });

  const rows: Measurement[] = rawCrypto();
  // The crypto every call needs at least: one signature made, one verified (the CSR's proof of possession).
  const rawSignAndVerifyUs = 1e6 / rows[0]!.opsPerSec + 1e6 / rows[1]!.opsPerSec;
  const costs: string[] = [];
  const cpuPerCall = new Map<string, number>();
  const ratios: { shape: string; on: number; off: number }[] = [];
  const load = (name: string, server: CaServer, connections: number, concurrency: number, seconds: number) =>
    runGrpcLoad(name, {
      target: `127.0.0.1:${server.grpcPort}`,
      method: createCertificate.path,
      messages,
      connections,
      concurrency,
      seconds,
      tls: { caPem: server.bundle().toPem(), serverName: 'localhost' },
      bearerToken: token,
    });
  const measure = async (name: string, server: CaServer, connections: number, concurrency: number) => {
    const issuedBefore = await issuedSvids(server);
    const [elu, cpu, loopCpu] = [performance.eventLoopUtilization(), process.cpuUsage(), eventLoopThreadCpuMicros()];
    const row = await load(name, server, connections, concurrency, SECONDS);
    rows.push(row);
    // Wall-clock rates depend on what else the machine runs; these show where the server's time went.
    const used = process.cpuUsage(cpu);
    const loopUsed = loopCpu === undefined ? undefined : eventLoopThreadCpuMicros()! - loopCpu;
    const calls = (await issuedSvids(server)) - issuedBefore; // grpc-load's warm-up included, as in the CPU
    const perCall = (used.user + used.system) / calls;
    cpuPerCall.set(row.name, perCall);
    costs.push(
      `${row.name}: ${Math.round(row.opsPerSec).toLocaleString('en-US')}/s, server CPU ${Math.round(perCall)} µs per call ` +
        `(${(perCall / TARGET_CPU_PER_CALL_US).toFixed(2)}x the ${TARGET_CPU_PER_CALL_US} µs target, ` +
        `${(perCall / rawSignAndVerifyUs).toFixed(1)}x a raw sign + verify), ` +
        (loopUsed === undefined ? '' : `event loop thread ${Math.round(loopUsed / calls)} µs per call, `) +
        `event loop ${(100 * performance.eventLoopUtilization(elu).utilization).toFixed(0)}% busy`,
    );
    return row.opsPerSec;
  };
  try {
    // Untimed: both servers' hot paths are compiled before the first measured shape, which would otherwise
    // pay the JIT warm-up for whichever mode it runs first.
    for (const { mode, server } of servers) await load(`warm-up, ${mode}`, server, 4, 16, WARM_UP_SECONDS);
    for (const [i, { connections, concurrency }] of SHAPES.entries()) {
      const shape = `${connections} conn, ${concurrency} in flight`;
      const perSecond = new Map<string, number>();
      // Alternate which mode runs first, so a drift in machine load does not favour one.
      for (const { mode, server } of i % 2 === 0 ? servers : [...servers].reverse()) {
        perSecond.set(mode, await measure(`gRPC CreateCertificate, ${shape}, ${mode}`, server, connections, concurrency));
      }
      ratios.push({ shape, on: perSecond.get('limits on')!, off: perSecond.get('limits off')! });
    }
  } finally {
    for (const { server } of servers) await server.close();
    await rm(dir, { recursive: true, force: true });
  }

  printTable('X509-SVID issuance over gRPC/TLS (server: this process; clients: grpc-load, grpc-go in another process)', rows, rows[0]);
  console.log(`\n${costs.join('\n')}`);
  const sum = (key: 'on' | 'off') => ratios.reduce((total, r) => total + r[key], 0);
  const overall = sum('on') / sum('off');
  console.log(`\nlimits on / limits off, same run: ${ratios.map((r) => `${r.shape} ${(r.on / r.off).toFixed(3)}x`).join('; ')}`);
  const costVerdict = overall >= LIMITS_COST_RATIO ? 'met' : 'MISSED';
  console.log(`rate limits cost <= ${Math.round((1 - LIMITS_COST_RATIO) * 100)}% of issuance (all shapes together: ${overall.toFixed(3)}x): ${costVerdict}`);
  const best = rows.filter((r) => r.name.endsWith('limits on')).reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const verdict = best.opsPerSec >= TARGET_PER_SEC ? 'met' : 'MISSED';
  console.log(`\nover-gRPC target >= ${TARGET_PER_SEC.toLocaleString('en-US')} SVIDs/s: ${verdict} (best: ${best.name}, ${Math.round(best.opsPerSec).toLocaleString('en-US')}/s)`);
  const bestCpu = cpuPerCall.get(best.name)!;
  const cpuVerdict = bestCpu <= TARGET_CPU_PER_CALL_US ? 'met' : 'MISSED';
  console.log(
    `server CPU per CreateCertificate call <= ${TARGET_CPU_PER_CALL_US} µs: ${cpuVerdict} ` +
      `(at the best shape: ${Math.round(bestCpu)} µs, ${(bestCpu / TARGET_CPU_PER_CALL_US).toFixed(2)}x the target)`,
  );
}

/** SVIDs the server issued through the Istio CA API so far (its meshid_ca_csr_total counter). */
async function issuedSvids(server: CaServer): Promise<number> {
  const { values } = await server.metrics.csrs.get();
  return values.find((v) => v.labels.api === 'istio' && v.labels.result === 'issued')?.value ?? 0;
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
