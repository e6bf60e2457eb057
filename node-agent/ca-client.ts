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
  /** "host:port" of the CA's TLS gRPC listener. */
  address: string;
  /** Name verified against the CA's certificate; empty = the host of `address`. */
  tlsServerName: string;
  callTimeoutMs: number;
  /** The channel's own reconnect backoff, kept within the agent's so a returning CA is noticed in time. */
  reconnectBackoff: { initialMs: number; maxMs: number };
}

const proto = loadProto<ProtoGrpcType>('meshid/v1/agent.proto');

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
 * gRPC client of meshid.v1.NodeAgentService. The CA is authenticated with the agent's trust anchors; every
 * call but AttestAgent presents the agent SVID as client certificate. A new SVID gets a new channel (new
 * TLS connections, because the CA checks the certificate of the connection a call arrives on); calls already
 * running on the old channel finish there. Errors are MeshidErrors: UNAVAILABLE when the CA cannot be
 * reached, otherwise the CA's own code and message.
 */
export class CaClient {
  private readonly tls = new RotatingTlsIdentity();
  private channel: TrackedChannel | undefined;
  private readonly channelListeners = new Set<() => void>();
  private closed = false;
  /** The CA's SPIFFE ID once the agent knows its trust domain (from its own SVID). */
  private serverId: string | undefined;

  constructor(private readonly options: CaClientOptions) {}

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
    const old = this.channel;
    this.channel = new TrackedChannel(this.newClient(true));
    old?.retire();
    for (const listener of this.channelListeners) listener();
  }

  /** True once an agent SVID is installed (mTLS calls possible). */
  hasIdentity(): boolean {
    return this.channel !== undefined;
  }

  /** Called after setIdentity replaced the channel: long-lived streams should reopen on the new one. */
  onChannelChange(listener: () => void): () => void {
    this.channelListeners.add(listener);
    return () => this.channelListeners.delete(listener);
  }

  /** First contact: no client certificate, the credential is in the request. */
  async attestAgent(request: AttestAgentRequest): Promise<AgentSVIDResponse__Output> {
    const channel = new TrackedChannel(this.newClient(false));
    try {
      return await this.unary<AgentSVIDResponse__Output>(channel, 'AttestAgent', (c, o, cb) => c.AttestAgent(request, o, cb));
    } finally {
      channel.retire();
    }
  }

  renewAgent(csr: string): Promise<AgentSVIDResponse__Output> {
    return this.unary<AgentSVIDResponse__Output>(this.mtls(), 'RenewAgent', (c, o, cb) => c.RenewAgent({ csr }, o, cb));
  }

  async mintWorkloadSvids(requests: WorkloadSVIDRequest[]): Promise<X509SVID__Output[]> {
    const res = await this.unary<MintWorkloadSVIDsResponse__Output>(this.mtls(), 'MintWorkloadSVIDs', (c, o, cb) => c.MintWorkloadSVIDs({ requests }, o, cb));
    if (res.svids.length !== requests.length) {
      throw new MeshidError('INTERNAL', `CA answered ${res.svids.length} SVIDs for ${requests.length} requests`, 'ca_bad_response');
    }
    return res.svids;
  }

  async listAgentEntries(): Promise<AgentEntry__Output[]> {
    return (await this.unary<ListAgentEntriesResponse__Output>(this.mtls(), 'ListAgentEntries', (c, o, cb) => c.ListAgentEntries({}, o, cb))).entries;
  }

  mintJwtSvid(request: JWTSVIDRequest): Promise<JWTSVID__Output> {
    return this.unary<JWTSVID__Output>(this.mtls(), 'MintJWTSVID', (c, o, cb) => c.MintJWTSVID(request, o, cb));
  }

  /** Tells the CA this agent applied the bundle with `sequence` (root rotation waits for every agent). */
  async reportBundle(sequence: number): Promise<void> {
    await this.unary<ReportBundleResponse__Output>(this.mtls(), 'ReportBundle', (c, o, cb) => c.ReportBundle({ sequence }, o, cb));
  }

  /** The CA's bundle stream (current bundle at once, then every change); no deadline. */
  watchBundle(): grpc.ClientReadableStream<TrustBundle__Output> {
    const channel = this.mtls();
    const done = channel.begin();
    const stream = channel.client.WatchBundle({});
    stream.on('status', done);
    return stream;
  }

  /** The CA's authorization policy stream (current set once the CA has one, then every change); no deadline. */
  watchPolicies(): grpc.ClientReadableStream<PolicySet__Output> {
    const channel = this.mtls();
    const done = channel.begin();
    const stream = channel.client.WatchPolicies({});
    stream.on('status', done);
    return stream;
  }

  close(): void {
    this.closed = true;
    this.channel?.retire();
    this.channel = undefined;
    this.channelListeners.clear();
  }

  private mtls(): TrackedChannel {
    if (!this.channel) {
      throw new MeshidError('UNAVAILABLE', 'the node agent has no agent SVID yet; it attests to the CA first', 'no_agent_svid');
    }
    return this.channel;
  }

  private unary<Res>(
    channel: TrackedChannel,
    method: string,
    invoke: (client: NodeAgentServiceClient, options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => void,
  ): Promise<Res> {
    const done = channel.begin();
    return new Promise<Res>((resolve, reject) => {
      invoke(channel.client, { deadline: Date.now() + this.options.callTimeoutMs }, (err, res) => {
        done();
        if (err) reject(caError(err, method, this.options.address));
        else resolve(res as Res);
      });
    });
  }

  private newClient(withIdentity: boolean): NodeAgentServiceClient {
    const credentials = grpc.experimental.createCertificateProviderChannelCredentials(this.tls, withIdentity ? this.tls : null, {
      checkServerIdentity: (host, cert) => checkServerIdentity(host, cert) ?? this.checkServerSpiffeId(cert),
    });
    const { tlsServerName, reconnectBackoff } = this.options;
    return new proto.meshid.v1.NodeAgentService(this.options.address, credentials, {
      ...(tlsServerName ? { 'grpc.ssl_target_name_override': tlsServerName } : {}),
      // Each channel gets its own connections: a shared subchannel would keep presenting the old certificate.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': reconnectBackoff.initialMs,
      'grpc.max_reconnect_backoff_ms': reconnectBackoff.maxMs,
    });
  }

  /**
   * The CA must present the server SVID: spiffe://<td>/meshid/server, in the agent's own trust domain once it
   * has an SVID (before its first attestation only the path can be checked). A DNS name alone is not enough:
   * any SVID that also carried the CA's DNS name would pass.
   */
  private checkServerSpiffeId(cert: PeerCertificate): Error | undefined {
    const id = spiffeIdOf(cert.subjectaltname);
    const ok = this.serverId ? id === this.serverId : id !== undefined && SpiffeId.parse(id).path === SERVER_PATH;
    if (ok) return undefined;
    const want = this.serverId ?? `spiffe://<trust domain>${SERVER_PATH}`;
    return new Error(`the server at ${this.options.address} is not the meshid CA: it presented ${id ?? 'no SPIFFE ID'}, expected ${want}`);
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
