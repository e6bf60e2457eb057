import { createHash, X509Certificate } from 'node:crypto';
import { MeshidError, permissionDenied, unauthenticated } from '../../core/errors.js';
import { AGENT_PATH_PREFIX, isAgentId, isReservedId } from '../../core/reserved-ids.js';
import { SpiffeId, type TrustDomain } from '../../core/spiffeid.js';
import type { AgentRecord, DataStore } from '../datastore/datastore.js';
import type { AttestedIdentity, ServiceAccountIdentity, ServiceAccountTokenVerifier } from '../../plugins/api/attestor.js';
import { serviceAccountIdentity } from './service-account.js';
import { attestPeerSvid, type PeerSvid } from './x509-svid.js';

export interface CallerCredentials {
  bearerToken?: string;
  peerCertificateDer?: Buffer;
}

export interface CallerAttestationDeps {
  trustDomain: TrustDomain;
  store: DataStore;
  /** Undefined when Kubernetes attestation is disabled. */
  serviceAccounts?: ServiceAccountTokenVerifier;
  /** `store` is the transaction the whole admission runs in, so a refused request leaves the token unused. */
  joinTokens: { attest(token: string, store: DataStore): Promise<AttestedIdentity> };
  /** Node agents' service accounts ("namespace/name") that may attest as node agents. */
  trustedNodeAccounts: readonly string[];
  /** meshid's signing CAs that may have issued a presented SVID (active, prepared, retired-unexpired). */
  issuers: () => readonly X509Certificate[];
  /** Counts failed authentications by reason (metrics). */
  onFailure: (reason: string) => void;
}

/** An agent authenticated by its current agent SVID. `promoted`: this call made a renewed SVID current. */
export interface AuthenticatedAgent {
  record: AgentRecord;
  serialHex: string;
  promoted: boolean;
}

/** A workload identity with the longest TTL it may be given (renewal over mTLS never outlives the original). */
export type AuthorizedWorkload = AttestedIdentity & { ttlCapSeconds?: number; dnsNames?: string[] };

const K8S_NODE_SELECTOR = 'k8s:node-name:';
const K8S_WORKLOAD_PATH = /^\/ns\/[^/]+\/sa\/[^/]+$/;
/** Bound on remembered client certificates (oldest dropped first). */
const VERIFIED_PEERS_MAX = 4096;

/**
 * Decides who a caller is, for every API. Identities come only from verified credentials: a service-account
 * token, a join token, or an SVID this CA issued. Nothing a CSR says is trusted.
 */
export class CallerAttestation {
  private readonly verifiedPeers = new Map<string, { peer: PeerSvid; issuers: readonly X509Certificate[] }>();

  constructor(private readonly deps: CallerAttestationDeps) {}

  /**
   * Istio CA API: a workload by its service-account token, or by its current SVID (renewal). A renewal is
   * re-authorized: meshid's own IDs are refused, and the identity must still have a source (see
   * authorizeRenewal); its TTL is capped by the presented SVID's lifetime.
   */
  attestWorkload(credentials: CallerCredentials): Promise<AuthorizedWorkload> {
    return this.counted(async () => {
      if (credentials.bearerToken !== undefined) {
        const sa = await this.serviceAccounts().verify(credentials.bearerToken);
        return serviceAccountIdentity(sa, this.deps.trustDomain);
      }
      if (credentials.peerCertificateDer) return this.authorizeRenewal(this.peerSvid(credentials.peerCertificateDer));
      throw unauthenticated(
        'no credentials: send "authorization: Bearer <service-account token>" or present your current SVID over mTLS',
        'missing_credentials',
      );
    });
  }

  /**
   * A node agent's first contact: a join token (VM) or its own service-account token (Kubernetes). A banned
   * ID is refused. `store` is the transaction of the admission (a join token is consumed in it).
   */
  attestAgentBootstrap(credential: { joinToken: string } | { k8sToken: string }, store: DataStore = this.deps.store): Promise<AttestedIdentity> {
    return this.counted(async () => {
      const identity = await this.bootstrapIdentity(credential, store);
      const ban = await store.getAgentBan(identity.spiffeId.toString());
      if (ban) {
        throw permissionDenied(
          `agent ${identity.spiffeId} is banned${ban.reason ? ` (${ban.reason})` : ''}; an operator must lift the ban with \`meshid agent unban\``,
          'banned_agent',
          identity.spiffeId.toString(),
        );
      }
      return identity;
    });
  }

  private async bootstrapIdentity(credential: { joinToken: string } | { k8sToken: string }, store: DataStore): Promise<AttestedIdentity> {
    if ('joinToken' in credential) return this.deps.joinTokens.attest(credential.joinToken, store);
    const sa = await this.serviceAccounts().verify(credential.k8sToken);
    const account = `${sa.namespace}/${sa.serviceAccount}`;
    const subject = `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`;
    if (!this.deps.trustedNodeAccounts.includes(account)) {
      throw permissionDenied(
        `service account ${account} is not a trusted node agent account (kubernetes.trustedNodeAccounts)`,
        'untrusted_node_account',
        subject,
      );
    }
    if (!sa.nodeName) {
      throw permissionDenied('the agent token is not bound to a pod on a node; use a projected service-account token', 'unbound_token', subject);
    }
    return {
      spiffeId: this.deps.trustDomain.spiffeId(`${AGENT_PATH_PREFIX}k8s/${sa.nodeName}`),
      kind: 'agent',
      attestor: 'k8s_token',
      selectors: [`${K8S_NODE_SELECTOR}${sa.nodeName}`, `k8s:ns:${sa.namespace}`, `k8s:sa:${sa.serviceAccount}`],
      credentialExpiresAt: sa.expiresAt,
    };
  }

  /**
   * A registered node agent by its current agent SVID (mTLS): the SVID's serial must be the record's current
   * one, or the pending one from its last renewal, which then becomes current. Evicted and banned agents have
   * no record, so their SVIDs are refused on every call.
   */
  attestAgent(credentials: CallerCredentials): Promise<AuthenticatedAgent> {
    return this.counted(async () => {
      const peer = this.peerSvid(credentials.peerCertificateDer);
      const spiffeId = peer.id.toString();
      const record = await this.deps.store.getAgent(spiffeId);
      if (!record) {
        const ban = await this.deps.store.getAgentBan(spiffeId);
        throw ban
          ? permissionDenied(`agent ${spiffeId} is banned; its SVIDs are refused until \`meshid agent unban\``, 'banned_agent', spiffeId)
          : permissionDenied(`${spiffeId} is not a registered node agent (evicted, or never attested); attest it again`, 'unknown_agent', spiffeId);
      }
      if (peer.serialHex === record.serialNumber) return { record, serialHex: peer.serialHex, promoted: false };
      if (peer.serialHex === record.newSerialNumber && (await this.deps.store.promoteAgentSerial(spiffeId, peer.serialHex))) {
        const promoted = { ...record, serialNumber: peer.serialHex, newSerialNumber: undefined };
        return { record: promoted, serialHex: peer.serialHex, promoted: true };
      }
      throw permissionDenied(
        `agent SVID serial ${peer.serialHex} of ${spiffeId} is no longer valid: a newer agent SVID replaced it`,
        'superseded_agent_svid',
        spiffeId,
      );
    });
  }

  /**
   * A workload an agent vouches for: a registration entry parented to the agent (VM), or a pod token whose
   * pod runs on the agent's own node (Kubernetes; Istio's node-scoped CA_TRUSTED_NODE_ACCOUNTS check).
   */
  attestWorkloadForAgent(
    agent: AgentRecord,
    workload: { entryId: string } | { k8sToken: string },
  ): Promise<AuthorizedWorkload> {
    return this.counted(async () => {
      if ('entryId' in workload) {
        const entry = await this.deps.store.getEntry(workload.entryId);
        if (!entry || entry.parentId !== agent.spiffeId) {
          throw permissionDenied(
            `registration entry "${workload.entryId}" does not exist or is not parented to ${agent.spiffeId}`,
            'entry_not_authorized',
            agent.spiffeId,
          );
        }
        return {
          spiffeId: SpiffeId.parse(entry.spiffeId),
          kind: 'workload',
          attestor: 'registration_entry',
          selectors: entry.selectors,
          ttlCapSeconds: entry.ttlSeconds || undefined,
          dnsNames: entry.dnsNames,
        };
      }
      const agentNode = agent.selectors.find((s) => s.startsWith(K8S_NODE_SELECTOR))?.slice(K8S_NODE_SELECTOR.length);
      if (!agentNode) throw permissionDenied(`agent ${agent.spiffeId} is not a Kubernetes node agent`, 'not_node_agent', agent.spiffeId);
      const sa = await this.serviceAccounts().verify(workload.k8sToken);
      assertOnNode(sa, agentNode, agent.spiffeId);
      return serviceAccountIdentity(sa, this.deps.trustDomain);
    });
  }

  /**
   * Renewal with a workload SVID: the identity must still come from somewhere. Registration entries that
   * name it need at least one live (registered, so neither evicted nor banned) parent agent, and their TTL
   * caps the renewal; with no entry, it must be a Kubernetes service-account ID while Kubernetes
   * attestation is on. Node agents' and the server's IDs never renew here.
   */
  private async authorizeRenewal(peer: PeerSvid): Promise<AuthorizedWorkload> {
    const spiffeId = peer.id.toString();
    if (isReservedId(peer.id)) {
      const what = isAgentId(peer.id) ? 'a node agent ID: node agents use meshid.v1.NodeAgentService' : 'reserved for meshid itself';
      throw permissionDenied(`${spiffeId} is ${what}, not a workload identity`, 'reserved_identity', spiffeId);
    }
    const renewal = { spiffeId: peer.id, kind: 'workload' as const, attestor: 'x509_svid', selectors: [] };
    const entries = await this.deps.store.listEntries({ spiffeId });
    if (entries.length > 0) {
      const live = [];
      for (const e of entries) if (await this.deps.store.getAgent(e.parentId)) live.push(e);
      if (live.length === 0) {
        throw permissionDenied(
          `no registration entry for ${spiffeId} has a live parent agent (evicted or banned); it cannot renew`,
          'renewal_not_authorized',
          spiffeId,
        );
      }
      const entryCap = live.some((e) => e.ttlSeconds === 0) ? Infinity : Math.max(...live.map((e) => e.ttlSeconds));
      return { ...renewal, ttlCapSeconds: Math.min(peer.lifetimeSeconds, entryCap), dnsNames: live[0]!.dnsNames };
    }
    if (this.deps.serviceAccounts && K8S_WORKLOAD_PATH.test(peer.id.path)) return { ...renewal, ttlCapSeconds: peer.lifetimeSeconds };
    throw permissionDenied(
      `${spiffeId} is not authorized any more: no registration entry names it${this.deps.serviceAccounts ? ' and it is not a Kubernetes service-account ID' : ''}`,
      'renewal_not_authorized',
      spiffeId,
    );
  }

  private serviceAccounts(): ServiceAccountTokenVerifier {
    if (!this.deps.serviceAccounts) {
      throw unauthenticated('Kubernetes token attestation is disabled on this CA (kubernetes.mode)', 'k8s_disabled');
    }
    return this.deps.serviceAccounts;
  }

  private peerSvid(der: Buffer | undefined): PeerSvid {
    const issuers = this.deps.issuers();
    const now = Date.now();
    // An agent presents the same certificate on every call of its connection: verify it once per issuer set.
    const key = der && der.length > 0 ? createHash('sha256').update(der).digest('base64') : undefined;
    const known = key ? this.verifiedPeers.get(key) : undefined;
    if (known && known.issuers === issuers && known.peer.notAfter.getTime() > now) return known.peer;
    const peer = attestPeerSvid(der, issuers, new Date(now));
    if (!peer.id.memberOf(this.deps.trustDomain)) {
      throw unauthenticated(`client SVID ${peer.id} is not in trust domain ${this.deps.trustDomain.name}`, 'foreign_trust_domain');
    }
    if (key) {
      if (this.verifiedPeers.size >= VERIFIED_PEERS_MAX) this.verifiedPeers.delete(this.verifiedPeers.keys().next().value!);
      this.verifiedPeers.set(key, { peer, issuers });
    }
    return peer;
  }

  /** Runs an attestation step, counting refusals by reason for the authentication-failure metric. */
  private async counted<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof MeshidError && (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED')) {
        this.deps.onFailure(err.reason);
      }
      throw err;
    }
  }
}

function assertOnNode(sa: ServiceAccountIdentity, node: string, agentId: string): void {
  const pod = `${sa.namespace}/${sa.podName ?? '?'}`;
  if (!sa.nodeName) {
    throw permissionDenied(`the token for ${pod} is not bound to a node, so it cannot be checked against the agent's node`, 'unbound_token', agentId);
  }
  if (sa.nodeName !== node) {
    throw permissionDenied(`pod ${pod} runs on node ${sa.nodeName}, not on this agent's node ${node}`, 'pod_not_on_node', agentId);
  }
}
