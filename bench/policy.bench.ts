/**
 * Authorization policy engine: in-process decisions with 1,000 policies (target >= 100,000/s on one core),
 * and ext_authz Check over the Unix socket under load (target p99 < 1 ms at 5,000 checks/s). The Check
 * server runs in a worker thread, so server and load generator each have their own core; the paced runs
 * measure latency from each call's scheduled start, so a stalled server cannot hide queueing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { AuthorizationPolicy, RequestAttributes, WorkloadRef } from '../core/policy/model.js';
import { PolicySet } from '../core/policy/policy-set.js';
import { PolicyStore } from '../core/policy/store.js';
import { parsePolicy } from '../core/policy/validate.js';
import { startExtAuthzServer } from '../node-agent/ext-authz/server.js';
import type { CheckRequest } from '../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { ProtoGrpcType } from '../protos/gen/external_auth.js';
import { loadProto } from '../protos/load.js';
import { describeMachine, measureAsync, measureSync, percentile, printTable, type Measurement } from './harness.js';

const NAMESPACES = 50;
const SERVICES_PER_NAMESPACE = 5;
const TD = 'bench.example';

const raw = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { namespace, name },
  spec,
});

/**
 * 1,000 policies shaped like a real mesh: per namespace 20 (an ALLOW per service with principal, path and
 * method rules, extra ALLOWs by header and JWT claim, a namespace DENY, AUDIT), spread over 50 namespaces.
 */
function meshPolicies(): AuthorizationPolicy[] {
  const out = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
      const selector = { matchLabels: { app: `svc-${s}` } };
      out.push(
        raw(ns, `allow-svc-${s}`, {
          selector,
          rules: [
            { from: [{ source: { principals: [`${TD}/ns/ns-${(n + 1) % NAMESPACES}/sa/svc-${s}`, `${TD}/ns/${ns}/sa/*`] } }], to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/api/*'] } }] },
            { from: [{ source: { namespaces: ['ops', 'monitoring'] } }], to: [{ operation: { paths: ['/metrics', '/healthz'] } }] },
          ],
        }),
        raw(ns, `allow-svc-${s}-writes`, {
          selector,
          rules: [{ from: [{ source: { principals: [`${TD}/ns/${ns}/sa/svc-${(s + 1) % SERVICES_PER_NAMESPACE}`] } }], to: [{ operation: { methods: ['POST', 'PUT'], paths: ['/api/orders*'] } }] }],
        }),
        raw(ns, `allow-svc-${s}-debug`, { selector, rules: [{ when: [{ key: 'request.headers[x-debug-token]', values: [`token-${n}-${s}`] }] }] }),
      );
    }
    out.push(
      raw(ns, 'allow-admins', { rules: [{ when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }] }),
      raw(ns, 'deny-quarantine', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['quarantine'] } }] }, { from: [{ source: { ipBlocks: ['192.0.2.0/24'] } }] }] }),
      raw(ns, 'deny-admin-paths', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }], from: [{ source: { notNamespaces: ['ops'] } }] }] }),
      raw(ns, 'audit-writes', { action: 'AUDIT', rules: [{ to: [{ operation: { methods: ['POST', 'PUT', 'DELETE'] } }] }] }),
      raw(ns, 'allow-legacy', { selector: { matchLabels: { app: 'legacy' } }, rules: [{ from: [{ source: { principals: [`${TD}/ns/legacy/sa/client`] } }] }] }),
    );
  }
  return out.map((p) => parsePolicy(p));
}

interface Case {
  workload: WorkloadRef;
  attributes: RequestAttributes;
}

/** A rotating mix of requests: allowed reads and writes, denials by DENY and by no ALLOW, plaintext. */
function requestMix(count: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const n = i % NAMESPACES;
    const s = i % SERVICES_PER_NAMESPACE;
    const workload = { namespace: `ns-${n}`, labels: { app: `svc-${s}`, version: 'v1' } };
    const kind = i % 6;
    const caller =
      kind === 0 ? `${TD}/ns/ns-${(n + 1) % NAMESPACES}/sa/svc-${s}` : kind === 1 ? `${TD}/ns/ns-${n}/sa/svc-${(s + 1) % SERVICES_PER_NAMESPACE}` : kind === 2 ? `${TD}/ns/quarantine/sa/x` : `${TD}/ns/elsewhere/sa/y`;
    cases.push({
      workload,
      attributes: {
        principal: kind === 5 ? undefined : `spiffe://${caller}`,
        sourceIp: `10.${n}.${s}.${i % 250}`,
        destinationPort: 8080,
        method: kind === 1 ? 'POST' : 'GET',
        path: kind === 1 ? '/api/orders/7' : kind === 4 ? '/admin/users' : `/api/items/${i}?q=x`,
        host: `svc-${s}.ns-${n}.svc.cluster.local:8080`,
        headers: { 'user-agent': 'bench', 'x-request-id': `r${i}` },
      },
    });
  }
  return cases;
}

function inProcess(policies: AuthorizationPolicy[]): Measurement[] {
  const cases = requestMix(3000);
  const set = new PolicySet(policies);
  let allowed = 0;
  const mixed = measureSync(`in-process, ${policies.length} policies, request mix`, (i) => {
    const c = cases[i % cases.length]!;
    if (set.evaluate(c.workload, c.attributes).allowed) allowed++;
  });
  if (allowed === 0) throw new Error('bench request mix allowed nothing: the policies or the mix are wrong');

  // 1,000 ALLOW policies on one workload, none matching: keyed by caller principal (index lookup), and
  // keyed by path only, so every policy is tried (the worst case).
  const flat = (rule: (i: number) => Record<string, unknown>) =>
    new PolicySet(Array.from({ length: 1000 }, (_, i) => parsePolicy(raw('flat', `allow-${i}`, { rules: [rule(i)] }))));
  const byPrincipal = flat((i) => ({ from: [{ source: { principals: [`${TD}/ns/other/sa/client-${i}`] } }], to: [{ operation: { paths: ['/api/*'] } }] }));
  const byPath = flat((i) => ({ to: [{ operation: { paths: [`/v${i}/*`] } }] }));
  const flatWorkload = { namespace: 'flat', labels: {} };
  const keyed = measureSync('in-process, 1,000 principal-keyed policies on one workload', () => void byPrincipal.evaluate(flatWorkload, cases[3]!.attributes));
  const worst = measureSync('in-process, 1,000 path-keyed policies on one workload (all tried)', () => void byPath.evaluate(flatWorkload, cases[3]!.attributes));
  const compile = measureSync('compile 1,000 policies (per change)', () => void new PolicySet(policies), { seconds: 1, warmup: 5 });
  return [mixed, keyed, worst, compile];
}

function checkRequestOf(c: Case): CheckRequest {
  const a = c.attributes;
  return {
    attributes: {
      source: { principal: a.principal ?? '', address: { socket_address: { address: a.sourceIp!, port_value: 40000 } } },
      destination: { principal: '', address: { socket_address: { address: '10.0.0.1', port_value: a.destinationPort! } } },
      request: { http: { method: a.method, path: a.path, host: a.host!, headers: a.headers, protocol: 'HTTP/2' } },
      context_extensions: { workload_namespace: c.workload.namespace!, workload_labels: Object.entries(c.workload.labels).map(([k, v]) => `${k}=${v}`).join(',') },
    },
  };
}

/** More calls than this in flight means the server is saturated: later calls wait (and that wait counts). */
const MAX_IN_FLIGHT = 256;

/**
 * Open-loop load at a fixed rate: every millisecond the calls due so far are started, whether or not
 * earlier ones have answered, so a slow server cannot slow the offered load. Latency counts from each
 * call's start, or from when it was due if the in-flight cap held it back. A timer tick instead of a
 * busy loop leaves the second core to the server.
 */
function paced(name: string, rate: number, seconds: number, op: (i: number) => Promise<unknown>): Promise<Measurement> {
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  const start = process.hrtime.bigint();
  const now = () => Number(process.hrtime.bigint() - start);
  let sent = 0;
  let done = 0;
  let inFlight = 0;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((now() / 1e9) * rate));
      while (sent < due && inFlight < MAX_IN_FLIGHT) {
        const index = sent++;
        const dueAt = (index * 1e9) / rate;
        const began = now() - dueAt > 1e6 ? dueAt : now(); // held back more than a tick: count the wait
        inFlight++;
        op(index).then(() => {
          inFlight--;
          latencies[index] = (now() - began) / 1000;
          if (++done < total) return;
          resolve({ name, ops: total, opsPerSec: total / (now() / 1e9), p50Us: percentile(latencies.sort(), 0.5), p99Us: percentile(latencies, 0.99) });
        }, reject);
      }
      if (sent === total) clearInterval(timer);
    }, 1);
  });
}

type Authorization = ProtoGrpcType['envoy']['service']['auth']['v3']['Authorization'];

/**
 * The load generator speaks gRPC over raw HTTP/2 with pre-serialised requests: Envoy (C++) is the real
 * client, and a grpc-js client costs more CPU per call than the server it measures.
 */
function rawGrpcClient(socketPath: string, service: Authorization['service']) {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  let broken: Error | undefined;
  session.on('error', (err) => (broken = err)); // pending calls then fail with their stream errors
  const frames = requestMix(3000).map((c) => {
    const message = service.Check.requestSerialize(checkRequestOf(c));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    return frame;
  });
  const call = (i: number, onBody?: (body: Buffer) => void) =>
    new Promise<void>((resolve, reject) => {
      if (broken) return reject(broken);
      const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => onBody && chunks.push(chunk));
      stream.on('trailers', (t) => {
        if (t['grpc-status'] !== '0') reject(new Error(`Check failed with grpc-status ${String(t['grpc-status'])}`));
      });
      stream.on('error', reject);
      stream.on('end', () => {
        onBody?.(Buffer.concat(chunks).subarray(5));
        resolve();
      });
      stream.end(frames[i % frames.length]);
    });
  return { call, close: () => session.close() };
}

async function overSocket(): Promise<Measurement[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-bench-authz-'));
  const socketPath = path.join(dir, 'authz.sock');
  const worker = new Worker(new URL(import.meta.url), { workerData: { socketPath } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const service = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto').envoy.service.auth.v3.Authorization.service;
  const client = rawGrpcClient(socketPath, service);
  try {
    const codes = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      await client.call(i, (body) => {
        const code = service.Check.responseDeserialize(body).status?.code ?? -1;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      });
    }
    if (!codes.get(0) || !codes.get(7)) throw new Error(`expected a mix of allowed and denied checks, got ${JSON.stringify([...codes])}`);
    await paced('warm-up', 5000, 1, (i) => client.call(i));
    return [
      await paced('Check over Unix socket, paced 5,000/s (open loop)', 5000, 5, (i) => client.call(i)),
      await measureAsync('Check over Unix socket, 32 in flight (max rate)', (i) => client.call(i), { concurrency: 32, seconds: 3 }),
    ];
  } finally {
    client.close();
    await worker.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serveInWorker(socketPath: string): Promise<void> {
  const store = new PolicyStore();
  store.replace(meshPolicies(), 'bench');
  await startExtAuthzServer({ socketPath, store, log: pino({ level: 'silent' }) });
  parentPort!.postMessage('ready');
}

async function main(): Promise<void> {
  console.log(`policy benchmark: ${describeMachine()}`);
  const policies = meshPolicies();
  if (policies.length !== 1000) throw new Error(`expected 1,000 policies, built ${policies.length}`);
  printTable('Authorization decisions in process (one core)', inProcess(policies));
  printTable('ext_authz Check over the Unix socket (server in a worker thread)', await overSocket());
}

if (isMainThread) await main();
else await serveInWorker((workerData as { socketPath: string }).socketPath);
