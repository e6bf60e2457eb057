import type { TrustDomain } from '../../core/spiffeid.js';
import type { x509 } from '../../core/x509/peculiar.js';

export interface MintX509CaRequest {
  /** PEM CSR for meshid's signing CA (meshid generated and keeps the key). */
  csrPem: string;
  trustDomain: TrustDomain;
  preferredTtlSeconds: number;
}

export interface MintX509CaResult {
  /** The signed intermediate first, then any upstream intermediates, excluding roots. */
  x509CaChain: x509.X509Certificate[];
  /** Trust anchors that verify the chain. */
  upstreamRoots: x509.X509Certificate[];
}

/**
 * A root meshid chains to. Every plugin (self-signed, files, vault, cert-manager) implements only this:
 * sign meshid's signing-CA CSR and report the roots.
 */
export interface UpstreamAuthority {
  readonly name: string;
  /** Validates config and connects; throws a MeshidError naming the bad setting. */
  start(): Promise<void>;
  mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult>;
  /** Called when the upstream's roots change; returns an unsubscribe function. */
  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void;
  /**
   * Optional: called when the CA the upstream signs with changed (e.g. the operator replaced its files), so the
   * authority manager mints a new signing CA from it without waiting for the schedule. Returns an unsubscribe
   * function.
   */
  onUpstreamChanged?(listener: () => void): () => void;
  close(): Promise<void>;
}
