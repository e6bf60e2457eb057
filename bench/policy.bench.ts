/**
 * Authorization policy engine: in-process decisions with 1,000 policies (target >= 100,000/s on one core),
 * and ext_authz Check over the Unix socket under load (target p99 < 1 ms at 5,000 checks/s), driven by a
 * native gRPC client in another process (bench/grpc-load.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { AuthorizationPolicy, RequestAttributes, WorkloadRef } from '../core/policy/model.js';
import { PolicySet } from '../core/policy/policy-set.js';
import { PolicyStore } from '../core/policy/store.js';
import { parsePolicy } from '../core/policy/validate.js';
import { startExtAuthzServer } from '../node-agent/ext-authz/server.js';
import type { CheckRequest } from '../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { ProtoGrpcType } from '../protos/gen/external_auth.js';
import { loadProto } from '../protos/load.js';
import { runGrpcLoad, startReferenceServer, type LoadMeasurement } from './grpc-load.js';
import { describeMachine, measureSync, printTable, type Measurement } from './harness.js';

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

type Authorization = ProtoGrpcType['envoy']['service']['auth']['v3']['Authorization'];

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const TARGET_P99_US = 1000;

/** Checks the server's answers over a node:http2 client first: the load runs only count calls. */
async function expectAllowsAndDenials(socketPath: string, service: Authorization['service'], messages: Buffer[]): Promise<void> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  const codes = new Map<number, number>();
  try {
    for (const message of messages.slice(0, 600)) {
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      message.copy(frame, 5);
      const body = await new Promise<Buffer>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('end', () => resolve(Buffer.concat(chunks)));
        stream.end(frame);
      });
      const code = service.Check.responseDeserialize(body.subarray(5)).status?.code ?? -1;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  } finally {
    session.close();
  }
  if (!codes.get(0) || !codes.get(7)) throw new Error(`expected a mix of allowed and denied checks, got ${JSON.stringify([...codes])}`);
}

/**
 * The agent's Check server on a Unix socket, driven by grpc-load (grpc-go, like Envoy's C++ client) open
 * loop at 5,000/s and closed loop at full speed; then the same load against grpc-load's own native server
 * on this machine, the limit the Node server is compared with.
 */
async function overSocket(): Promise<LoadMeasurement[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-bench-authz-'));
  const socketPath = path.join(dir, 'authz.sock');
  const store = new PolicyStore();
  store.replace(meshPolicies(), 'bench');
  const server = await startExtAuthzServer({ socketPath, store, log: pino({ level: 'silent' }) });
  const service = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto').envoy.service.auth.v3.Authorization.service;
  const messages = requestMix(3000).map((c) => service.Check.requestSerialize(checkRequestOf(c)));
  const load = { method: CHECK_PATH, messages, warmupSeconds: 1 };
  try {
    await expectAllowsAndDenials(socketPath, service, messages);
    const rows = [
      await runGrpcLoad('Check over Unix socket, paced 5,000/s (open loop)', { ...load, target: `unix://${socketPath}`, rate: 5000, seconds: 5 }),
      await runGrpcLoad('Check over Unix socket, 32 in flight (max rate)', { ...load, target: `unix://${socketPath}`, concurrency: 32, seconds: 3 }),
    ];
    const referencePath = path.join(dir, 'reference.sock');
    const reference = await startReferenceServer(`unix://${referencePath}`);
    try {
      rows.push(await runGrpcLoad('reference: native grpc-go server, paced 5,000/s', { ...load, target: `unix://${referencePath}`, rate: 5000, seconds: 5 }));
    } finally {
      reference.close();
    }
    return rows;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`policy benchmark: ${describeMachine()}`);
  const policies = meshPolicies();
  if (policies.length !== 1000) throw new Error(`expected 1,000 policies, built ${policies.length}`);
  printTable('Authorization decisions in process (one core)', inProcess(policies));
  const rows = await overSocket();
  printTable('ext_authz Check over the Unix socket (load: grpc-load, a grpc-go client in its own process)', rows);
  const [paced, , reference] = rows as [LoadMeasurement, LoadMeasurement, LoadMeasurement];
  const us = (n: number) => `${Math.round(n).toLocaleString('en-US')} µs`;
  console.log(`\npaced 5,000/s: p99.9 ${us(paced.p999Us)}; the generator itself started calls up to ${us(paced.lateP99Us ?? 0)} late (p99)`);
  console.log(`reference native server, same load: p99 ${us(reference.p99Us)} (meshid ${(paced.p99Us / reference.p99Us).toFixed(2)}x)`);
  console.log(`ext_authz target p99 < ${us(TARGET_P99_US)} at 5,000 checks/s: ${paced.p99Us < TARGET_P99_US ? 'met' : 'MISSED'} (p99 ${us(paced.p99Us)})`);
}

await main();
