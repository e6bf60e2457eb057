/**
 * Authorization policy engine: in-process decisions with 1,000 policies (target >= 100,000/s on one core),
 * and ext_authz Check over the Unix socket under load (target p99 < 1 ms at 5,000 checks/s), driven by a
 * native gRPC client in another process (bench/grpc-load.ts), against the Check server in a process started
 * with the agent's deployed V8 flags.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { AuthorizationPolicy, RequestAttributes, WorkloadRef } from '../core/policy/model.js';
import { PolicySet } from '../core/policy/policy-set.js';
import { PolicyStore } from '../core/policy/store.js';
import { parsePolicy } from '../core/policy/validate.js';
import { startExtAuthzServer } from '../node-agent/ext-authz/server.js';
import type { CheckRequest } from '../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { ProtoGrpcType } from '../protos/gen/external_auth.js';
import { loadProto } from '../protos/load.js';
import { runGrpcLoad, startReferenceServer, startServerChild, type LoadMeasurement } from './grpc-load.js';
import { AGENT_NODE_FLAGS, describeMachine, measureSync, printTable, type Measurement } from './harness.js';

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

/** Paced rounds, alternating meshid and the reference so both see the same machine noise. */
const ROUNDS = 3;

interface SocketResults {
  paced: LoadMeasurement[];
  reference: LoadMeasurement[];
  maxRate: LoadMeasurement;
}

/**
 * The agent's Check server on a Unix socket, driven by grpc-load (grpc-go, like Envoy's C++ client): open
 * loop at 5,000/s in rounds that alternate with grpc-load's own native server under the same load (what
 * this machine allows any server), then closed loop at full speed.
 */
async function overSocket(): Promise<SocketResults> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-bench-authz-'));
  const socketPath = path.join(dir, 'authz.sock');
  const server = await startServerProcess(socketPath);
  const service = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto').envoy.service.auth.v3.Authorization.service;
  const messages = requestMix(3000).map((c) => service.Check.requestSerialize(checkRequestOf(c)));
  const load = { method: CHECK_PATH, messages, warmupSeconds: 1 };
  const referencePath = path.join(dir, 'reference.sock');
  const reference = await startReferenceServer(`unix://${referencePath}`);
  try {
    await expectAllowsAndDenials(socketPath, service, messages);
    const results: SocketResults = { paced: [], reference: [], maxRate: undefined! };
    for (let round = 1; round <= ROUNDS; round++) {
      results.paced.push(await runGrpcLoad(`meshid Check, paced 5,000/s, round ${round}`, { ...load, target: `unix://${socketPath}`, rate: 5000, seconds: 5 }));
      results.reference.push(await runGrpcLoad(`reference grpc-go server, paced 5,000/s, round ${round}`, { ...load, target: `unix://${referencePath}`, rate: 5000, seconds: 5 }));
    }
    results.maxRate = await runGrpcLoad('meshid Check, 32 in flight (max rate)', { ...load, target: `unix://${socketPath}`, concurrency: 32, seconds: 3 });
    return results;
  } finally {
    reference.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The Check server in its own process, started with the agent's deployed V8 flags (AGENT_NODE_FLAGS): as
 * in the agent, the young-generation size decides how long the scavenge pauses in the tail are.
 */
async function startServerProcess(socketPath: string): Promise<{ close(): Promise<void> }> {
  const child = await startServerChild(process.execPath, [...AGENT_NODE_FLAGS, fileURLToPath(import.meta.url), SERVE_ARG, socketPath]);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end(); // the server closes gracefully when its stdin ends
      }),
  };
}

const SERVE_ARG = '--serve-check';

async function serveCheck(socketPath: string): Promise<void> {
  const store = new PolicyStore();
  store.replace(meshPolicies(), 'bench');
  const server = await startExtAuthzServer({ socketPath, store, log: pino({ level: 'silent' }) });
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.once('end', () => void server.close());
}

const median = (rows: LoadMeasurement[], pick: (m: LoadMeasurement) => number) => rows.map(pick).sort((a, b) => a - b)[Math.floor(rows.length / 2)]!;

async function main(): Promise<void> {
  console.log(`policy benchmark: ${describeMachine()}`);
  const policies = meshPolicies();
  if (policies.length !== 1000) throw new Error(`expected 1,000 policies, built ${policies.length}`);
  printTable('Authorization decisions in process (one core)', inProcess(policies));
  const { paced, reference, maxRate } = await overSocket();
  printTable('ext_authz Check over the Unix socket (load: grpc-load, a grpc-go client in its own process)', [...paced.flatMap((row, i) => [row, reference[i]!]), maxRate]);
  const us = (n: number) => `${Math.round(n).toLocaleString('en-US')} µs`;
  const [p99, referenceP99] = [median(paced, (m) => m.p99Us), median(reference, (m) => m.p99Us)];
  console.log(`
paced 5,000/s, median of ${ROUNDS} rounds: meshid p99 ${us(p99)}, p99.9 ${us(median(paced, (m) => m.p999Us))}; reference p99 ${us(referenceP99)} (meshid ${(p99 / referenceP99).toFixed(2)}x)`);
  console.log(`the generator itself started calls up to ${us(median(paced, (m) => m.lateP99Us ?? 0))} late (p99): machine noise every server here sees`);
  console.log(`ext_authz target p99 < ${us(TARGET_P99_US)} at 5,000 checks/s: ${p99 < TARGET_P99_US ? 'met' : 'MISSED'} (median p99 ${us(p99)}; rounds ${paced.map((m) => us(m.p99Us)).join(', ')})`);
}

if (process.argv[2] === SERVE_ARG) await serveCheck(process.argv[3]!);
else await main();
