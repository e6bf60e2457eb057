import type { SpiffeId } from '../../core/spiffeid.js';

/** The outcome of attestation: who the caller is. Issuance takes identities only from here, never from a CSR. */
export interface AttestedIdentity {
  spiffeId: SpiffeId;
  /** 'workload' gets a workload SVID; 'agent' gets a node-agent SVID. */
  kind: 'workload' | 'agent';
  /** Which attestor vouched: 'k8s_token', 'join_token', 'x509_svid'. */
  attestor: string;
  /** Facts the attestor verified, as "type:key:value", e.g. "k8s:ns:default", "k8s:node-name:worker-1". */
  selectors: string[];
  /** When the presented credential stops being valid, if it has an expiry. */
  credentialExpiresAt?: Date;
}

/** A verified Kubernetes service-account token. */
export interface ServiceAccountIdentity {
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
  nodeName?: string;
  nodeUid?: string;
  /** Token expiry (for caching); undefined when unknown. */
  expiresAt?: Date;
}

/**
 * Verifies a service-account token (TokenReview or offline JWT). Throws MeshidError UNAUTHENTICATED with a
 * reason label and a message that never contains the token.
 */
export interface ServiceAccountTokenVerifier {
  verify(token: string): Promise<ServiceAccountIdentity>;
}
