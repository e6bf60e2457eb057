/**
 * Node agent benchmark (issue 3). Three processes on one host: the CA (bench/agent-support.ts: startCaServer
 * with the `files` upstream, reviewing pod tokens with a real kube-apiserver), the node agent as shipped
 * (`meshid agent run`), and this one, which plays the Envoys: each simulated Envoy has its own connection to
 * the agent's Unix socket and drives StreamSecrets as Envoy does, ACKing every response.
 *
 * 1. First certificate: from a new workload's first StreamSecrets request for `default` to the response with
 *    its certificate, one new workload at a time. VM mode: each workload is a uid with its own registration
 *    entry and socket. Kubernetes mode: each is a new pod presenting its token (the CA reviews it and checks
 *    the pod's node). Target p99 <= 20 ms.
 * 2. 1,000 pods each hold a stream for `default` + `ROOTCA`; the operator replaces the upstream CA, so the CA
 *    adds a root to the trust bundle. Measured from the CA's bundle change until every stream has the new
 *    ROOTCA. Target: all within 1 s.
 * 3. The agent's resident memory (its own /proc/<pid>/status) with those 1,000 identities cached and
 *    streams open. Target <= 150 MB.
 * CPU used per certificate and per bundle change is read from /proc for each process, to show where time goes.
 * Run: `npm run bench -- agent`. Node flags given to this script reach the CA and the agent as well, e.g.
 * `node --cpu-prof --cpu-prof-dir=prof dist/bench/agent.bench.js` writes one profile per process.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { sign } from 'node:crypto';
import { once, EventEmitter } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { generateKeyPair } from '../core/x509/keys.js';
import { SECRET_TYPE_URL } from '../node-agent/sds/secrets.js';
import { planSocket } from '../node-agent/sockets/socket-layout.js';
import type { ProtoGrpcType as AdminProto } from '../protos/gen/admin.js';
import type { DiscoveryRequest } from '../protos/gen/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { SecretDiscoveryServiceClient } from '../protos/gen/envoy/service/secret/v3/SecretDiscoveryService.js';
import type { AdminServiceClient } from '../protos/gen/meshid/v1/AdminService.js';
import type { ProtoGrpcType as SdsProto } from '../protos/gen/sds.js';
import { LOADER_OPTIONS, loadProto } from '../protos/load.js';
import type { DecodedResponse } from '../test/node-agent/interop/support/clients.js';
import {
  AGENT_ACCOUNT,
  CA_HOST_ARG,
  TRUST_DOMAIN,
  wallClockMs,
  type CaHostInfo,
  type CaHostMessage,
  type CaHostRequest,
  type OperatorCaChange,
  type PodSpec,
} from './agent-support.js';
import { AGENT_NODE_FLAGS, describeMachine, measureSync, percentile, printTable, type Measurement } from './harness.js';

const TARGET = { firstCertP99Ms: 20, allStreamsUpdatedMs: 1000, rssMb: 150 };
const FIRST_CERT_WORKLOADS = 200;
/** Untimed workloads first, so JIT, connections and key pools settle. */
const WARMUP_WORKLOADS = 20;
const STREAMS = 1000;
/** New pods starting at the same time while the 1,000 streams open (a node filling up). */
const OPEN_CONCURRENCY = 100;
const BUNDLE_CHANGES = 3;
const NODE_NAME = 'bench-node';
const FIRST_UID = 20000;
/** USER_HZ, 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
const CLI = fileURLToPath(new URL('../cli/meshid.js', import.meta.url));
const CA_HOST = fileURLToPath(new URL('./agent-support.js', import.meta.url));

/** CPU time (user + system) a process has used so far, in ms, from the kernel (10 ms ticks). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The CA in its own process, driven over IPC. */
class CaHost {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(result: unknown): void; reject(err: Error): void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly info: CaHostInfo,
  ) {
    child.on('message', (message: CaHostMessage) => {
      if (!('id' in message)) return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if ('error' in message) waiter?.reject(new Error(`CA host: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`CA host exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  static async start(dir: string): Promise<CaHost> {
    const child = fork(CA_HOST, [CA_HOST_ARG, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const info = await new Promise<CaHostInfo>((resolve, reject) => {
      child.once('message', (message: CaHostMessage) => ('op' in message ? resolve(message.info) : reject(new Error('CA host: unexpected first message'))));
      child.once('exit', (code, signal) => reject(new Error(`CA host exited (${code ?? signal}) before it was ready`)));
    });
    return new CaHost(child, info);
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(request: WithoutId<CaHostRequest>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ op: 'close', id: ++this.nextId } satisfies CaHostRequest);
    await exited;
  }
}

/** `meshid agent run` in its own process; its JSON log is read for the ops port, warnings are echoed. */
class AgentProcess {
  private opsUrl = '';
  private stopping = false;

  private constructor(private readonly child: ChildProcess) {
    // The agent's stderr is passed on, except its shutdown notice once the bench stops it.
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!this.stopping) process.stderr.write(chunk);
    });
  }

  static async start(flags: string[]): Promise<AgentProcess> {
    // Node flags given to the bench (e.g. --cpu-prof) apply to the agent too, as fork() passes them to the CA.
    // AGENT_NODE_FLAGS are the ones deploy/ runs the agent with (DaemonSet and systemd unit).
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...process.execArgv, CLI, 'agent', 'run', ...flags], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agent = new AgentProcess(child);
    try {
      const opsPort = await new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          let record: { level?: number; msg?: string; opsPort?: number };
          try {
            record = JSON.parse(line);
          } catch {
            return;
          }
          if (record.msg === 'meshid node agent started' && record.opsPort) resolve(record.opsPort);
          if ((record.level ?? 0) >= 40) console.error(`  agent: ${line}`);
        });
        child.once('exit', (code, signal) => reject(new Error(`the agent exited (${code ?? signal}) before it started`)));
      });
      agent.opsUrl = `http://127.0.0.1:${opsPort}`;
      await agent.ready();
      return agent;
    } catch (err) {
      await agent.stop();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resident and peak resident memory in MiB, from the kernel. */
  async memory(): Promise<{ rssMb: number; peakMb: number }> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  }

  /** One sample of an unlabelled metric from /metrics. */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.opsUrl}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  }

  /** The agent's JS heap (used, total) and external memory in MiB, from its /metrics. */
  async heap(): Promise<{ usedMb: number; totalMb: number; externalMb: number }> {
    const mb = async (name: string) => (await this.metric(`meshid_agent_nodejs_${name}`)) / 2 ** 20;
    return { usedMb: await mb('heap_size_used_bytes'), totalMb: await mb('heap_size_total_bytes'), externalMb: await mb('external_memory_bytes') };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.stopping = true;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }

  private async ready(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${this.opsUrl}/readyz`).catch(() => undefined);
      if (res?.ok) return;
      if (attempt === 200) throw new Error(`the agent did not become ready: ${(await res?.text())?.trim() ?? 'no answer'}`);
      await sleep(50);
    }
  }
}

type SdsClientConstructor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => SecretDiscoveryServiceClient;

/** The SDS client class, decoding Any resources into Secrets as Envoy reads them. */
function loadSdsClient(): SdsClientConstructor {
  const definition = protoLoader.loadSync(
    [
      'envoy/service/secret/v3/sds.proto',
      'envoy/extensions/transport_sockets/tls/v3/secret.proto',
      'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
    ],
    { ...LOADER_OPTIONS, json: true },
  );
  return (grpc.loadPackageDefinition(definition) as unknown as SdsProto).envoy.service.secret.v3.SecretDiscoveryService;
}

interface Arrival {
  at: number;
  response: DecodedResponse;
}

/** One simulated Envoy: its own connection, one StreamSecrets stream, every response ACKed at once. */
class Envoy {
  readonly arrivals: Arrival[] = [];
  private readonly events = new EventEmitter();
  private call: grpc.ClientDuplexStream<DiscoveryRequest, DecodedResponse> | undefined;
  private failure: Error | undefined;
  private closing = false;

  private constructor(
    private readonly client: SecretDiscoveryServiceClient,
    private readonly metadata: grpc.Metadata,
  ) {}

  static async connect(Client: SdsClientConstructor, socketPath: string, podToken?: string): Promise<Envoy> {
    // A local subchannel pool: one connection per Envoy, not one shared by every client in this process.
    const client = new Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
    const metadata = new grpc.Metadata();
    if (podToken) metadata.set('authorization', `Bearer ${podToken}`);
    return new Envoy(client, metadata);
  }

  /** Opens the stream and sends the first request; returns when it was sent. */
  open(names: string[]): number {
    const call = this.client.StreamSecrets(this.metadata) as unknown as grpc.ClientDuplexStream<DiscoveryRequest, DecodedResponse>;
    this.call = call;
    call.on('data', (response: DecodedResponse) => {
      const at = wallClockMs();
      call.write({ version_info: response.version_info, response_nonce: response.nonce, resource_names: names, type_url: SECRET_TYPE_URL });
      this.arrivals.push({ at, response });
      this.events.emit('arrival');
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.closing && err.code === grpc.status.CANCELLED) return;
      this.failure = err;
      this.events.emit('arrival');
    });
    const sentAt = wallClockMs();
    call.write({ node: { id: 'bench', cluster: 'bench' }, resource_names: names, type_url: SECRET_TYPE_URL });
    return sentAt;
  }

  /** The first response from index `from` on that satisfies `accept`. */
  async response(from: number, accept: (response: DecodedResponse) => boolean = () => true): Promise<Arrival> {
    for (let i = from; ; i++) {
      while (this.arrivals.length <= i) {
        if (this.failure) throw this.failure;
        await once(this.events, 'arrival');
      }
      if (accept(this.arrivals[i]!.response)) return this.arrivals[i]!;
    }
  }

  close(): void {
    this.closing = true;
    this.call?.cancel();
    this.client.close();
  }
}

const hasCertificate = (response: DecodedResponse) => response.resources.some((s) => s.name === 'default' && s.tls_certificate);

/** How many root certificates the ROOTCA secret in a response carries (SPIFFE validator or trusted_ca). */
function rootsIn(response: DecodedResponse): number {
  const context = response.resources.find((s) => s.name === 'ROOTCA')?.validation_context;
  const pem =
    context?.custom_validator_config?.typed_config.trust_domains.map((td) => td.trust_bundle.inline_bytes.toString()).join('') ??
    context?.trusted_ca?.inline_bytes.toString() ??
    '';
  return pem.split('-----BEGIN CERTIFICATE-----').length - 1;
}

/** A harness row from per-operation latencies in milliseconds, `spanMs` being the wall time they took. */
function row(name: string, latenciesMs: number[], spanMs: number): Measurement {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    name,
    ops: sorted.length,
    opsPerSec: sorted.length / (spanMs / 1000),
    p50Us: percentile(sorted, 0.5) * 1000,
    p99Us: percentile(sorted, 0.99) * 1000,
  };
}

/** `promise`, or a rejection naming `what` once `ms` have passed, so a lost response fails the run instead of hanging it. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `task` over `items` with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

interface FirstCertificates {
  latencies: number[];
  spanMs: number;
  /** CPU used per timed certificate, ms, by each process. */
  cpu: { agent: number; ca: number; envoys: number };
  /** The same workloads again on new connections and streams: the agent's own share, the identity being cached. */
  cached: number[];
  cachedSpanMs: number;
  cachedCpu: { agent: number; ca: number; envoys: number };
}

/** Opens a stream for `default` and times it until the response with the certificate. */
async function timeDefault(envoy: Envoy): Promise<number> {
  const sentAt = envoy.open(['default']);
  const { at, response } = await within(10_000, 'a workload\'s certificate', envoy.response(0));
  envoy.close();
  if (!hasCertificate(response)) throw new Error('the first response carries no certificate');
  return at - sentAt;
}

const processCpu = async (pids: { agent: number; ca: number }) => {
  const own = process.cpuUsage();
  return { agent: await cpuMs(pids.agent), ca: await cpuMs(pids.ca), envoys: (own.user + own.system) / 1000 };
};

/**
 * New workloads one after another: latency of each first certificate and the CPU it cost each process
 * (warm-up workloads left out); then each timed workload once more, now served from the agent's cache.
 */
async function firstCertificates(count: number, pids: { agent: number; ca: number }, connect: (i: number) => Promise<Envoy>): Promise<FirstCertificates> {
  for (let i = 0; i < WARMUP_WORKLOADS; i++) await timeDefault(await connect(i));
  const timed = async () => {
    const before = await processCpu(pids);
    const start = wallClockMs();
    const latencies: number[] = [];
    for (let i = WARMUP_WORKLOADS; i < count; i++) latencies.push(await timeDefault(await connect(i)));
    const spanMs = wallClockMs() - start;
    const after = await processCpu(pids);
    const per = (key: keyof typeof after) => (after[key] - before[key]) / latencies.length;
    return { latencies, spanMs, cpu: { agent: per('agent'), ca: per('ca'), envoys: per('envoys') } };
  };
  const first = await timed();
  const again = await timed();
  return { ...first, cached: again.latencies, cachedSpanMs: again.spanMs, cachedCpu: again.cpu };
}

function commonAgentFlags(ca: CaHostInfo, dir: string): string[] {
  return [
    `--server.address=127.0.0.1:${ca.grpcPort}`,
    '--server.tlsServerName=localhost',
    `--server.trustBundleFile=${ca.bundleFile}`,
    `--dataDir=${path.join(dir, 'data')}`,
    `--socketDir=${path.join(dir, 'sockets')}`,
    '--listen.ops=127.0.0.1:0',
    '--logLevel=info',
  ];
}

function adminCall<Req, Res>(
  method: (request: Req, callback: (err: grpc.ServiceError | null, response?: Res) => void) => unknown,
  admin: AdminServiceClient,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => method.call(admin, request, (err, response) => (err ? reject(err) : resolve(response!))));
}

/** VM mode: a join-token agent with one registration entry (and so one socket) per workload uid. */
async function vmFirstCertificates(ca: CaHost, Client: SdsClientConstructor, dir: string): Promise<FirstCertificates> {
  if (process.getuid?.() !== 0) {
    throw new Error('the VM part of this benchmark needs root: the agent gives every workload uid its own socket, owned by that uid');
  }
  const proto = loadProto<AdminProto>('meshid/v1/admin.proto');
  const admin = new proto.meshid.v1.AdminService(`unix:${ca.info.adminSocket}`, grpc.credentials.createInsecure());
  const agentId = `spiffe://${TRUST_DOMAIN}/meshid/agent/vm/bench`;
  const token = await adminCall(admin.CreateJoinToken, admin, { spiffe_id: agentId, ttl_seconds: 600 });
  const uids = Array.from({ length: FIRST_CERT_WORKLOADS + WARMUP_WORKLOADS }, (_, i) => FIRST_UID + i);
  for (const uid of uids) {
    await adminCall(admin.CreateEntry, admin, {
      spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/workload-${uid}`,
      parent_id: agentId,
      selectors: [`unix:uid:${uid}`],
      ttl_seconds: 0,
      dns_names: [],
    });
  }
  admin.close();

  const agent = await AgentProcess.start([...commonAgentFlags(ca.info, dir), '--mode=vm', `--join-token=${token.value}`, '--entries.pollInterval=200ms']);
  try {
    const socketDir = path.join(dir, 'sockets');
    const sockets = uids.map((uid) => planSocket(socketDir, [`unix:uid:${uid}`], { uid: 0, gid: 0 }).socket.path);
    for (let attempt = 0; !(await Promise.all(sockets.map((s) => access(s).then(() => true, () => false)))).every(Boolean); attempt++) {
      if (attempt === 400) throw new Error('the VM agent did not open a socket for every entry within 20 s');
      await sleep(50);
    }
    return await firstCertificates(uids.length, { agent: agent.pid, ca: ca.pid }, (i) => Envoy.connect(Client, sockets[i]!));
  } finally {
    await agent.stop();
  }
}

const pods = (prefix: string, count: number): PodSpec[] =>
  Array.from({ length: count }, (_, i) => ({ namespace: 'bench', name: `${prefix}-${i}`, serviceAccount: `${prefix}-${i}` }));

interface BundleChangeResult {
  /** Per stream: CA bundle change -> new ROOTCA received, ms. */
  latencies: number[];
  allMs: number;
  fromFilesMs: number;
  /** CPU the change cost each process, ms (the CA's includes minting a signing CA for the new root). */
  cpu: { agent: number; ca: number; envoys: number };
}

/** Replaces the operator CA and waits until every stream has received a ROOTCA with the new root. */
async function bundleChange(ca: CaHost, agent: AgentProcess, envoys: Envoy[]): Promise<BundleChangeResult> {
  const seen = envoys.map((envoy) => envoy.arrivals.length);
  const pids = { agent: agent.pid, ca: ca.pid };
  const before = await processCpu(pids);
  const change = await within(30_000, 'the CA to publish the new root', ca.request<OperatorCaChange>({ op: 'replace-operator-ca' }));
  const updated = envoys.map((envoy, i) => envoy.response(seen[i]!, (r) => rootsIn(r) === change.roots));
  const arrivals = await within(30_000, `all ${envoys.length} streams to receive the new ROOTCA`, Promise.all(updated));
  const after = await processCpu(pids);
  const latencies = arrivals.map((a) => a.at - change.changedAt);
  const last = Math.max(...arrivals.map((a) => a.at));
  return {
    latencies,
    allMs: last - change.changedAt,
    fromFilesMs: last - change.writtenAt,
    cpu: { agent: after.agent - before.agent, ca: after.ca - before.ca, envoys: after.envoys - before.envoys },
  };
}

function printTargets(lines: { figure: string; value: number; unit: string; target: number }[]): void {
  const cells = lines.map((l) => [
    l.figure,
    `${l.value.toFixed(1)} ${l.unit}`,
    `<= ${l.target} ${l.unit}`,
    l.value <= l.target ? 'PASS' : 'MISS',
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((r) => r[c]!.length)));
  console.log('\nTargets');
  for (const r of cells) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

async function main(): Promise<void> {
  console.log(`node agent benchmark: ${describeMachine()}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-bench-agent-'));
  const Client = loadSdsClient();
  const ca = await CaHost.start(path.join(dir, 'ca'));
  let agent: AgentProcess | undefined;
  const envoys: Envoy[] = [];
  try {
    const { privateKey } = generateKeyPair('ec-p256');
    const message = Buffer.alloc(450, 0x5a);
    const rawSign = measureSync('raw ECDSA P-256 sign (context)', () => sign('sha256', message, privateKey), { seconds: 1 });

    const vm = await vmFirstCertificates(ca, Client, path.join(dir, 'vm'));

    // Kubernetes mode: the agent attests with its own projected token, pods present theirs.
    const k8sDir = path.join(dir, 'k8s');
    await mkdir(k8sDir, { recursive: true });
    const agentPod = { namespace: AGENT_ACCOUNT.namespace, name: 'meshid-agent-bench', serviceAccount: AGENT_ACCOUNT.serviceAccount };
    const [agentToken] = await ca.request<string[]>({ op: 'pod-tokens', nodeName: NODE_NAME, pods: [agentPod] });
    const tokenFile = path.join(k8sDir, 'agent-token');
    await writeFile(tokenFile, agentToken!, { mode: 0o600 });
    agent = await AgentProcess.start([...commonAgentFlags(ca.info, k8sDir), '--mode=k8s', `--kubernetes.tokenFile=${tokenFile}`]);
    const idle = await agent.memory();
    const idleHeap = await agent.heap();
    const socket = path.join(k8sDir, 'sockets', 'agent.sock');

    const firstTokens = await ca.request<string[]>({ op: 'pod-tokens', nodeName: NODE_NAME, pods: pods('first', FIRST_CERT_WORKLOADS + WARMUP_WORKLOADS) });
    const k8s = await firstCertificates(firstTokens.length, { agent: agent.pid, ca: ca.pid }, (i) => Envoy.connect(Client, socket, firstTokens[i]));

    const streamTokens = await ca.request<string[]>({ op: 'pod-tokens', nodeName: NODE_NAME, pods: pods('pod', STREAMS) });
    const openStart = wallClockMs();
    const opened = await mapLimit(streamTokens, OPEN_CONCURRENCY, async (token) => {
      const envoy = await Envoy.connect(Client, socket, token);
      envoys.push(envoy);
      const sentAt = envoy.open(['default', 'ROOTCA']);
      const { at, response } = await within(60_000, 'a new pod\'s first response', envoy.response(0));
      if (!hasCertificate(response) || rootsIn(response) === 0) throw new Error('a first response lacks the certificate or ROOTCA');
      return at - sentAt;
    });
    const openedSpanMs = wallClockMs() - openStart;

    await sleep(2000); // let the agent go idle (GC) before reading its memory
    const loaded = await agent.memory();
    const loadedHeap = await agent.heap();
    const cached = await agent.metric('meshid_agent_svids_cached');
    const streams = await agent.metric('meshid_agent_sds_streams');

    const changes: BundleChangeResult[] = [];
    for (let i = 0; i < BUNDLE_CHANGES; i++) changes.push(await bundleChange(ca, agent, envoys));
    const worst = changes.reduce((a, b) => (b.allMs > a.allMs ? b : a));

    printTable('Node agent: per-workload latency (SDS over the agent socket, CA in its own process)', [
      rawSign,
      row('first cert, VM, one new uid at a time', vm.latencies, vm.spanMs),
      row('  same uids again, SVID cached (agent only)', vm.cached, vm.cachedSpanMs),
      row('first cert, Kubernetes, one new pod at a time', k8s.latencies, k8s.spanMs),
      row('  same pods again, SVID cached (agent only)', k8s.cached, k8s.cachedSpanMs),
      row(`first cert, Kubernetes, ${OPEN_CONCURRENCY} new pods at a time`, opened, openedSpanMs),
      row(`bundle push to ${STREAMS} streams (worst of ${BUNDLE_CHANGES})`, worst.latencies, worst.allMs),
    ]);
    const cpu = (c: { agent: number; ca: number; envoys: number }) =>
      `agent ${c.agent.toFixed(1)} ms, CA ${c.ca.toFixed(1)} ms, simulated Envoys ${c.envoys.toFixed(1)} ms`;
    const ms = (values: number[]) => values.map((v) => `${v.toFixed(0)} ms`).join(', ');
    console.log(`
CPU per first certificate, VM: ${cpu(vm.cpu)}; per cached one: ${cpu(vm.cachedCpu)}
CPU per first certificate, Kubernetes: ${cpu(k8s.cpu)} (TokenReview by a real kube-apiserver, its CPU not included); per cached one: ${cpu(k8s.cachedCpu)}
agent RSS: ${idle.rssMb.toFixed(1)} MB idle (JS heap ${idleHeap.usedMb.toFixed(1)} MB used), ${loaded.rssMb.toFixed(1)} MB with ${cached} SVIDs cached and ${streams} SDS streams open (JS heap ${loadedHeap.usedMb.toFixed(1)} of ${loadedHeap.totalMb.toFixed(1)} MB, external ${loadedHeap.externalMb.toFixed(1)} MB; peak RSS ${loaded.peakMb.toFixed(1)} MB)
bundle changes: all ${STREAMS} streams updated ${ms(changes.map((c) => c.allMs))} after the CA announced the new root; ${ms(changes.map((c) => c.fromFilesMs))} after the operator wrote the new CA files (includes the files upstream's 300 ms quiet period and a new signing CA)
CPU per bundle change: ${cpu(worst.cpu)} (worst round)`);
    printTargets([
      { figure: 'first certificate p99, VM', value: percentile(Float64Array.from(vm.latencies).sort(), 0.99), unit: 'ms', target: TARGET.firstCertP99Ms },
      { figure: 'first certificate p99, Kubernetes', value: percentile(Float64Array.from(k8s.latencies).sort(), 0.99), unit: 'ms', target: TARGET.firstCertP99Ms },
      { figure: `all ${STREAMS} streams updated after a bundle change`, value: worst.allMs, unit: 'ms', target: TARGET.allStreamsUpdatedMs },
      { figure: `agent RSS, ${cached} identities cached`, value: loaded.rssMb, unit: 'MB', target: TARGET.rssMb },
    ]);
  } finally {
    for (const envoy of envoys) envoy.close();
    await agent?.stop();
    await ca.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
