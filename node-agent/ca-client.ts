import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { MeshidError, type ErrorCode } from '../core/errors.js';
import { SERVER_PATH } from '../core/reserved-ids.js';
import { SpiffeId } from '../core/spiffeid.js';
import { RotatingTlsIdentity } from '../core/tls-identity.js';
import type { ProtoGrpcType } from '../protos/gen/agent.js';
import type { AgentEntry__Output } from '../protos/gen/meshid/v1/AgentEntry.js';
import type { AgentSVIDResponse__Output } from '../protos/gen/meshid/v1/AgentSVIDResponse.js';
import type { AttestAgentRequest } from '../protos/gen/meshid/v1/AttestAgentRequest.js';
import type { JWTSVID__Output } from '../protos/gen/meshid/v1/JWTSVID.js';
import type { JWTSVIDRequest } from '../protos/gen/meshid/v1/JWTSVIDRequest.js';
import type { ListAgentEntriesResponse__Output } from '../protos/gen/meshid/v1/ListAgentEntriesResponse.js';
import type { MintWorkloadSVIDsResponse__Output } from '../protos/gen/meshid/v1/MintWorkloadSVIDsResponse.js';
import type { NodeAgentServiceClient } from '../protos/gen/meshid/v1/NodeAgentService.js';
import type { PolicySet__Output } from '../protos/gen/meshid/v1/PolicySet.js';
import type { ReportBundleResponse__Output } from '../protos/gen/meshid/v1/ReportBundleResponse.js';
import type { TrustBundle__Output } from '../protos/gen/meshid/v1/TrustBundle.js';
import type { WorkloadSVIDRequest } from '../protos/gen/meshid/v1/WorkloadSVIDRequest.js';
import type { X509SVID__Output } from '../protos/gen/meshid/v1/X509SVID.js';
import { loadProto } from '../protos/load.js';

export interface CaClientOptions {
  /**
   * "host:port" of each CA replica's TLS gRPC listener, in order of preference. Each is a gRPC DNS target:
   * a name with several addresses is one entry, and its channel fails over between them by itself.
   */
  addresses: readonly string[];
  /** Name verified against every replica's certificate; empty = the host of each address. */
  tlsServerName: string;
  callTimeoutMs: number;
  /** The channel's own reconnect backoff, kept within the agent's so a returning CA is noticed in time. */
  reconnectBackoff: { initialMs: number; maxMs: number };
}

const proto = loadProto<ProtoGrpcType>('meshid/v1/agent.proto');

/** Failures another replica may not have: the call or stream is tried there instead. */
const FAILOVER_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

/**
 * For a name with several addresses: one connection to one of them (shuffled, so a fleet of agents spreads
 * over the replicas), and on to the next when that connection fails.
 */
const SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ pick_first: { shuffleAddressList: true } }] });

type Invoke<Res> = (client: NodeAgentServiceClient, options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => void;

/** A channel plus the calls still running on it, so a replaced channel closes only once they are done. */
class TrackedChannel {
  private inflight = 0;
  private retired = false;

  constructor(readonly client: NodeAgentServiceClient) {}

  begin(): () => void {
    this.inflight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inflight--;
      this.closeIfIdle();
    };
  }

  retire(): void {
    this.retired = true;
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    if (this.retired && this.inflight === 0) this.client.close();
  }
}

/**
 * The CA address in use: kept while it works, left for the next one (round the list) when a call or stream
 * on it fails. A dead replica is thus tried again only after every other address failed too.
 */
class AddressRotation {
  private index = 0;

  constructor(private readonly addresses: readonly string[]) {}

  get current(): string {
    return this.addresses[this.index]!;
  }

  /** Moves on from `address`, unless a concurrent failure already did. */
  failed(address: string): void {
    if (address === this.current) this.index = (this.index + 1) % this.addresses.length;
  }
}

/**
 * gRPC client of meshid.v1.NodeAgentService on one or several CA replicas. The CA is authenticated with the
 * agent's trust anchors and must present the server SVID at every address; every call but AttestAgent
 * presents the agent SVID as client certificate. A new SVID gets new channels (new TLS connections, because
 * the CA checks the certificate of the connection a call arrives on); calls already running on the old ones
 * finish there. A call that finds its replica unavailable is tried once on each other address in turn; the
 * caller's backoff spaces the rounds. Errors are MeshidErrors: UNAVAILABLE when no replica could be reached,
 * otherwise the CA's own code and message.
 */
export class CaClient {
  private readonly tls = new RotatingTlsIdentity();
  private readonly rotation: AddressRotation;
  /** mTLS channels by address, all replaced by every new agent SVID; undefined until the first. */
  private channels: Map<string, TrackedChannel> | undefined;
  private readonly channelListeners = new Set<() => void>();
  private closed = false;
  /** The CA's SPIFFE ID once the agent knows its trust domain (from its own SVID). */
  private serverId: string | undefined;

  constructor(private readonly options: CaClientOptions) {
    this.rotation = new AddressRotation(options.addresses);
  }

  /** The address calls and newly opened streams go to. */
  get address(): string {
    return this.rotation.current;
  }

  /** PEM roots that authenticate the CA (bootstrap file, then the bundle from WatchBundle). */
  setTrustAnchors(rootsPem: string): void {
    this.tls.setTrustAnchors(rootsPem);
  }

  /** Installs a new agent SVID (PEM chain, leaf first) and key; later calls use it on fresh connections. */
  setIdentity(chainPem: string, privateKeyPem: string): void {
    if (this.closed) return;
    const own = spiffeIdOf(new X509Certificate(chainPem));
    if (!own) throw new MeshidError('INVALID_ARGUMENT', 'the agent SVID carries no SPIFFE ID', 'bad_agent_svid');
    this.serverId = SpiffeId.parse(own).trustDomain.spiffeId(SERVER_PATH).toString();
    this.tls.setIdentity(chainPem, privateKeyPem);
    this.retireChannels();
    this.channels = new Map();
    for (const listener of this.channelListeners) listener();
  }

  /** True once an agent SVID is installed (mTLS calls possible). */
  hasIdentity(): boolean {
    return this.channels !== undefined;
  }

  /** Called after setIdentity replaced the channels: long-lived streams should reopen on the new ones. */
  onChannelChange(listener: () => void): () => void {
    this.channelListeners.add(listener);
    return () => this.channelListeners.delete(listener);
  }

  /** First contact: no client certificate, the credential is in the request. */
  attestAgent(request: AttestAgentRequest): Promise<AgentSVIDResponse__Output> {
    return this.withFailover('AttestAgent', async (address) => {
      const channel = new TrackedChannel(this.newClient(address, false));
      try {
        return await this.unary<AgentSVIDResponse__Output>(channel, (c, o, cb) => c.AttestAgent(request, o, cb));
      } finally {
        channel.retire();
      }
    });
  }

  renewAgent(csr: string): Promise<AgentSVIDResponse__Output> {
    return this.mtlsCall<AgentSVIDResponse__Output>('RenewAgent', (c, o, cb) => c.RenewAgent({ csr }, o, cb));
  }

  async mintWorkloadSvids(requests: WorkloadSVIDRequest[]): Promise<X509SVID__Output[]> {
    const res = await this.mtlsCall<MintWorkloadSVIDsResponse__Output>('MintWorkloadSVIDs', (c, o, cb) => c.MintWorkloadSVIDs({ requests }, o, cb));
    if (res.svids.length !== requests.length) {
      throw new MeshidError('INTERNAL', `CA answered ${res.svids.length} SVIDs for ${requests.length} requests`, 'ca_bad_response');
    }
    return res.svids;
  }

  async listAgentEntries(): Promise<AgentEntry__Output[]> {
    return (await this.mtlsCall<ListAgentEntriesResponse__Output>('ListAgentEntries', (c, o, cb) => c.ListAgentEntries({}, o, cb))).entries;
  }

  mintJwtSvid(request: JWTSVIDRequest): Promise<JWTSVID__Output> {
    return this.mtlsCall<JWTSVID__Output>('MintJWTSVID', (c, o, cb) => c.MintJWTSVID(request, o, cb));
  }

  /**
   * Tells the CA at `address` that this agent applied the bundle with `sequence` (root rotation waits for every
   * agent). Only there: the replica whose stream delivered the bundle is the one that numbered it.
   */
  async reportBundle(sequence: number, address: string): Promise<void> {
    try {
      await this.unary<ReportBundleResponse__Output>(this.mtlsChannel(address), (c, o, cb) => c.ReportBundle({ sequence }, o, cb));
    } catch (err) {
      throw err instanceof MeshidError ? err : caError(err as grpc.ServiceError, 'ReportBundle', address);
    }
  }

  /** The CA's bundle stream (current bundle at once, then every change); no deadline. */
  watchBundle(): grpc.ClientReadableStream<TrustBundle__Output> {
    return this.watch((client) => client.WatchBundle({}));
  }

  /** The CA's authorization policy stream (current set once the CA has one, then every change); no deadline. */
  watchPolicies(): grpc.ClientReadableStream<PolicySet__Output> {
    return this.watch((client) => client.WatchPolicies({}));
  }

  close(): void {
    this.closed = true;
    this.retireChannels();
    this.channels = undefined;
    this.channelListeners.clear();
  }

  /** A stream on the current address; if it fails as unavailable, the next stream opens on another one. */
  private watch<Message>(open: (client: NodeAgentServiceClient) => grpc.ClientReadableStream<Message>): grpc.ClientReadableStream<Message> {
    const address = this.rotation.current;
    const channel = this.mtlsChannel(address);
    const done = channel.begin();
    const stream = open(channel.client);
    stream.on('status', (status: grpc.StatusObject) => {
      done();
      if (FAILOVER_CODES.has(status.code)) this.rotation.failed(address);
    });
    return stream;
  }

  private mtlsCall<Res>(method: string, invoke: Invoke<Res>): Promise<Res> {
    return this.withFailover(method, (address) => this.unary(this.mtlsChannel(address), invoke));
  }

  /** `attempt` on the current address, then on each other one in turn while they fail as unavailable. */
  private async withFailover<Res>(method: string, attempt: (address: string) => Promise<Res>): Promise<Res> {
    const failures = new Map<string, grpc.ServiceError>();
    for (let address = this.rotation.current; !failures.has(address); address = this.rotation.current) {
      try {
        return await attempt(address);
      } catch (err) {
        if (err instanceof MeshidError) throw err;
        const failure = err as grpc.ServiceError;
        if (!FAILOVER_CODES.has(failure.code)) throw caError(failure, method, address);
        failures.set(address, failure);
        this.rotation.failed(address);
      }
    }
    throw unreachable(method, failures);
  }

  private mtlsChannel(address: string): TrackedChannel {
    if (!this.channels) {
      throw new MeshidError('UNAVAILABLE', 'the node agent has no agent SVID yet; it attests to the CA first', 'no_agent_svid');
    }
    let channel = this.channels.get(address);
    if (!channel) {
      channel = new TrackedChannel(this.newClient(address, true));
      this.channels.set(address, channel);
    }
    return channel;
  }

  private retireChannels(): void {
    for (const channel of this.channels?.values() ?? []) channel.retire();
  }

  /** One call on `channel`; rejects with the gRPC error. */
  private unary<Res>(channel: TrackedChannel, invoke: Invoke<Res>): Promise<Res> {
    const done = channel.begin();
    return new Promise<Res>((resolve, reject) => {
      invoke(channel.client, { deadline: Date.now() + this.options.callTimeoutMs }, (err, res) => {
        done();
        if (err) reject(err);
        else resolve(res as Res);
      });
    });
  }

  private newClient(address: string, withIdentity: boolean): NodeAgentServiceClient {
    const credentials = grpc.experimental.createCertificateProviderChannelCredentials(this.tls, withIdentity ? this.tls : null, {
      checkServerIdentity: (host, cert) => checkServerIdentity(host, cert) ?? this.checkServerSpiffeId(address, cert),
    });
    const { tlsServerName, reconnectBackoff } = this.options;
    return new proto.meshid.v1.NodeAgentService(address, credentials, {
      ...(tlsServerName ? { 'grpc.ssl_target_name_override': tlsServerName } : {}),
      // Each channel gets its own connections: a shared subchannel would keep presenting the old certificate.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': reconnectBackoff.initialMs,
      'grpc.max_reconnect_backoff_ms': reconnectBackoff.maxMs,
      'grpc.service_config': SERVICE_CONFIG,
    });
  }

  /**
   * The CA must present the server SVID: spiffe://<td>/meshid/server, in the agent's own trust domain once it
   * has an SVID (before its first attestation only the path can be checked). A DNS name alone is not enough:
   * any SVID that also carried the CA's DNS name would pass.
   */
  private checkServerSpiffeId(address: string, cert: PeerCertificate): Error | undefined {
    const id = spiffeIdOf(cert.subjectaltname);
    const ok = this.serverId ? id === this.serverId : id !== undefined && SpiffeId.parse(id).path === SERVER_PATH;
    if (ok) return undefined;
    const want = this.serverId ?? `spiffe://<trust domain>${SERVER_PATH}`;
    return new Error(`the server at ${address} is not the meshid CA: it presented ${id ?? 'no SPIFFE ID'}, expected ${want}`);
  }
}

/** The single URI SAN of a certificate (or its subjectAltName text), if it is a SPIFFE ID. */
function spiffeIdOf(source: X509Certificate | string | undefined): string | undefined {
  const sans = typeof source === 'string' ? source : source?.subjectAltName;
  const uris = (sans ?? '').split(', ').filter((n) => n.startsWith('URI:spiffe://')).map((n) => n.slice(4));
  return uris.length === 1 ? uris[0] : undefined;
}

const PASSED_THROUGH: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [grpc.status.NOT_FOUND]: 'NOT_FOUND',
  [grpc.status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [grpc.status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [grpc.status.UNIMPLEMENTED]: 'UNIMPLEMENTED',
  [grpc.status.INTERNAL]: 'INTERNAL',
};

/** A gRPC failure of `method` as a MeshidError the agent's callers can act on. */
export function caError(err: grpc.ServiceError, method: string, address: string): MeshidError {
  const code = PASSED_THROUGH[err.code];
  if (code) return new MeshidError(code, `CA refused ${method}: ${err.details}`, `ca_${code.toLowerCase()}`);
  return new MeshidError(
    'UNAVAILABLE',
    `CA at ${address} is unreachable (${method}: ${grpc.status[err.code] ?? err.code} ${err.details})`,
    'ca_unavailable',
  );
}

/** `method` failed as unavailable at every address, with the reason at each. */
function unreachable(method: string, failures: ReadonlyMap<string, grpc.ServiceError>): MeshidError {
  const [first, ...others] = failures;
  if (others.length === 0) return caError(first![1], method, first![0]);
  const each = [...failures].map(([address, err]) => `${address}: ${grpc.status[err.code] ?? err.code} ${err.details}`);
  return new MeshidError('UNAVAILABLE', `no CA replica answered ${method} (${each.join('; ')})`, 'ca_unavailable');
}
