import type { RejectedTokensConfig } from '../../core/kubernetes/rejected-tokens.js';
import type { SpiffeId } from '../../core/spiffeid.js';
import type { PluginDefinition } from './plugin.js';

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

/** What the CA server hands a service-account token verifier besides its own settings. */
export interface TokenVerifierContext {
  /** Token audiences accepted (kubernetes.audiences). */
  audiences: string[];
  /** The CA's kubeconfig (kubernetes.kubeconfig); empty = in-cluster credentials. */
  kubeconfig: string;
  /** Refused tokens are remembered this long (limits.rejectedTokens); undefined = off. */
  rejectedTokens?: RejectedTokensConfig;
}

/** A service-account token verifier plugin (`kubernetes.mode`). */
export type TokenVerifierPlugin<Settings> = PluginDefinition<Settings, TokenVerifierContext, Promise<ServiceAccountTokenVerifier>>;
