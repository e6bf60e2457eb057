import { createHash, X509Certificate } from 'node:crypto';
import { MeshidError, permissionDenied, unauthenticated } from '../../core/errors.js';
import { SpiffeId, type TrustDomain } from '../../core/spiffeid.js';
import type { AgentRecord, DataStore } from '../datastore/datastore.js';
import type { AttestedIdentity, ServiceAccountIdentity, ServiceAccountTokenVerifier } from './attestor.js';
import { serviceAccountIdentity } from './service-account.js';
import { attestPeerSvid } from './x509-svid.js';

export interface CallerCredentials {
  bearerToken?: string;
  peerCertificateDer?: Buffer;
}

export interface CallerAttestationDeps {
  trustDomain: TrustDomain;
  store: DataStore;
  /** Undefined when Kubernetes attestation is disabled. */
  serviceAccounts?: ServiceAccountTokenVerifier;
  joinTokens: { attest(token: string): Promise<AttestedIdentity> };
  /** Node agents' service accounts ("namespace/name") that may attest as node agents. */
  trustedNodeAccounts: readonly string[];
  /** meshid's signing CAs that may have issued a presented SVID (active, prepared, retired-unexpired). */
  issuers: () => readonly X509Certificate[];
  /** Counts failed authentications by reason (metrics). */
  onFailure: (reason: string) => void;
}

const K8S_NODE_SELECTOR = 'k8s:node-name:';
/** Bound on remembered client certificates (oldest dropped first). */
const VERIFIED_PEERS_MAX = 4096;

/**
 * Decides who a caller is, for every API. Identities come only from verified credentials: a service-account
 * token, a join token, or an SVID this CA issued. Nothing a CSR says is trusted.
 */
export class CallerAttestation {
  private readonly verifiedPeers = new Map<string, { id: SpiffeId; issuers: readonly X509Certificate[]; validUntilMs: number }>();

  constructor(private readonly deps: CallerAttestationDeps) {}

  /** Istio CA API: a workload by its service-account token, or by its current SVID (renewal). */
  attestWorkload(credentials: CallerCredentials): Promise<AttestedIdentity> {
    return this.counted(async () => {
      if (credentials.bearerToken !== undefined) {
        const sa = await this.serviceAccounts().verify(credentials.bearerToken);
        return serviceAccountIdentity(sa, this.deps.trustDomain);
      }
      if (credentials.peerCertificateDer) {
        const spiffeId = this.peerSvid(credentials.peerCertificateDer);
        return { spiffeId, kind: 'workload', attestor: 'x509_svid', selectors: [] };
      }
      throw unauthenticated(
        'no credentials: send "authorization: Bearer <service-account token>" or present your current SVID over mTLS',
        'missing_credentials',
      );
    });
  }

  /** A node agent's first contact: a join token (VM) or its own service-account token (Kubernetes). */
  attestAgentBootstrap(credential: { joinToken: string } | { k8sToken: string }): Promise<AttestedIdentity> {
    return this.counted(async () => {
      if ('joinToken' in credential) return this.deps.joinTokens.attest(credential.joinToken);
      const sa = await this.serviceAccounts().verify(credential.k8sToken);
      const account = `${sa.namespace}/${sa.serviceAccount}`;
      if (!this.deps.trustedNodeAccounts.includes(account)) {
        throw permissionDenied(
          `service account ${account} is not a trusted node agent account (kubernetes.trustedNodeAccounts)`,
          'untrusted_node_account',
        );
      }
      if (!sa.nodeName) {
        throw permissionDenied('the agent token is not bound to a pod on a node; use a projected service-account token', 'unbound_token');
      }
      return {
        spiffeId: this.deps.trustDomain.spiffeId(`/meshid/agent/k8s/${sa.nodeName}`),
        kind: 'agent',
        attestor: 'k8s_token',
        selectors: [`${K8S_NODE_SELECTOR}${sa.nodeName}`, `k8s:ns:${sa.namespace}`, `k8s:sa:${sa.serviceAccount}`],
        credentialExpiresAt: sa.expiresAt,
      };
    });
  }

  /** A registered, non-evicted node agent by its current agent SVID (mTLS). */
  attestAgent(credentials: CallerCredentials): Promise<AgentRecord> {
    return this.counted(async () => {
      const spiffeId = this.peerSvid(credentials.peerCertificateDer).toString();
      const agent = await this.deps.store.getAgent(spiffeId);
      if (!agent) throw permissionDenied(`${spiffeId} is not a registered node agent`, 'unknown_agent');
      if (agent.evictedAt) {
        throw permissionDenied(`agent ${spiffeId} was evicted; attest it again with a new join token`, 'evicted_agent');
      }
      return agent;
    });
  }

  /**
   * A workload an agent vouches for: a registration entry parented to the agent (VM), or a pod token whose
   * pod runs on the agent's own node (Kubernetes; Istio's node-scoped CA_TRUSTED_NODE_ACCOUNTS check).
   */
  attestWorkloadForAgent(
    agent: AgentRecord,
    workload: { entryId: string } | { k8sToken: string },
  ): Promise<AttestedIdentity & { ttlSeconds?: number; dnsNames?: string[] }> {
    return this.counted(async () => {
      if ('entryId' in workload) {
        const entry = await this.deps.store.getEntry(workload.entryId);
        if (!entry || entry.parentId !== agent.spiffeId) {
          throw permissionDenied(`registration entry "${workload.entryId}" does not exist or is not parented to ${agent.spiffeId}`, 'entry_not_authorized');
        }
        return {
          spiffeId: SpiffeId.parse(entry.spiffeId),
          kind: 'workload',
          attestor: 'registration_entry',
          selectors: entry.selectors,
          ttlSeconds: entry.ttlSeconds,
          dnsNames: entry.dnsNames,
        };
      }
      const agentNode = agent.selectors.find((s) => s.startsWith(K8S_NODE_SELECTOR))?.slice(K8S_NODE_SELECTOR.length);
      if (!agentNode) throw permissionDenied(`agent ${agent.spiffeId} is not a Kubernetes node agent`, 'not_node_agent');
      const sa = await this.serviceAccounts().verify(workload.k8sToken);
      assertOnNode(sa, agentNode);
      return serviceAccountIdentity(sa, this.deps.trustDomain);
    });
  }

  private serviceAccounts(): ServiceAccountTokenVerifier {
    if (!this.deps.serviceAccounts) {
      throw unauthenticated('Kubernetes token attestation is disabled on this CA (kubernetes.mode)', 'k8s_disabled');
    }
    return this.deps.serviceAccounts;
  }

  private peerSvid(der: Buffer | undefined): SpiffeId {
    const issuers = this.deps.issuers();
    const now = Date.now();
    // An agent presents the same certificate on every call of its connection: verify it once per issuer set.
    const key = der && der.length > 0 ? createHash('sha256').update(der).digest('base64') : undefined;
    const known = key ? this.verifiedPeers.get(key) : undefined;
    if (known && known.issuers === issuers && known.validUntilMs > now) return known.id;
    const id = attestPeerSvid(der, issuers, new Date(now));
    if (!id.memberOf(this.deps.trustDomain)) {
      throw unauthenticated(`client SVID ${id} is not in trust domain ${this.deps.trustDomain.name}`, 'foreign_trust_domain');
    }
    if (key) {
      if (this.verifiedPeers.size >= VERIFIED_PEERS_MAX) this.verifiedPeers.delete(this.verifiedPeers.keys().next().value!);
      this.verifiedPeers.set(key, { id, issuers, validUntilMs: Date.parse(new X509Certificate(der!).validTo) });
    }
    return id;
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

function assertOnNode(sa: ServiceAccountIdentity, node: string): void {
  const pod = `${sa.namespace}/${sa.podName ?? '?'}`;
  if (!sa.nodeName) {
    throw permissionDenied(`the token for ${pod} is not bound to a node, so it cannot be checked against the agent's node`, 'unbound_token');
  }
  if (sa.nodeName !== node) {
    throw permissionDenied(`pod ${pod} runs on node ${sa.nodeName}, not on this agent's node ${node}`, 'pod_not_on_node');
  }
}
