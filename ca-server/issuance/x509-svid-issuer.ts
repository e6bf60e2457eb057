import { performance } from 'node:perf_hooks';
import type { SpiffeId } from '../../core/spiffeid.js';
import { checkCsrIdentity, parseCsr } from '../../core/x509/csr.js';
import { createLeafSigner, leafValidity, type LeafSigner } from '../../core/x509/leaf.js';
import { derToPem } from '../../core/x509/pem.js';
import type { AuthorityManager, SigningAuthority } from '../authority/manager.js';

export interface IssuedX509Svid {
  spiffeId: string;
  /** Leaf first, then the signing CA chain; roots excluded. */
  chainDer: Buffer[];
  /** PEM of the signing CA chain (chainDer after the leaf), encoded once per signing authority. */
  signingChainPem: readonly string[];
  serialHex: string;
  notAfter: Date;
}

export interface X509SvidRequest {
  csrPem: string;
  /** From attestation; a CSR URI SAN that differs from it is refused. */
  spiffeId: SpiffeId;
  /** 0 or undefined: the configured default. */
  ttlSeconds?: number;
  /** Longest TTL this identity may get whatever was asked (an entry's TTL, a renewed SVID's lifetime). */
  ttlCapSeconds?: number;
  dnsNames?: string[];
}

export interface IssuancePolicy {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  /** Optional subject DN for leaves; empty = empty subject with a critical SAN. */
  subject: string;
}

/** What is derived from the active signing authority once, and rebuilt when it changes. */
interface Signer {
  authority: SigningAuthority;
  /** Pre-encoded issuer name, AKI and extensions. */
  leaf: LeafSigner;
  chainPem: readonly string[];
}

/**
 * Turns a validated CSR and an attested identity into a signed X509-SVID on the fast path, with the leaf
 * signer and the chain's PEM built once per active authority.
 */
export class X509SvidIssuer {
  private signer: Signer | undefined;

  constructor(
    private readonly authorities: AuthorityManager,
    private readonly policy: IssuancePolicy,
    private readonly observeSeconds: (seconds: number) => void = () => undefined,
  ) {}

  async issue(request: X509SvidRequest): Promise<IssuedX509Svid> {
    const started = performance.now();
    const csr = await parseCsr(request.csrPem);
    checkCsrIdentity(csr, request.spiffeId);
    const { authority, leaf, chainPem } = this.currentSigner();
    const { notBefore, notAfter } = leafValidity({
      now: new Date(),
      requestedTtlSeconds: Math.min(request.ttlSeconds || this.policy.defaultTtlSeconds, request.ttlCapSeconds ?? Infinity),
      maxTtlSeconds: this.policy.maxTtlSeconds,
      issuerNotAfter: authority.notAfter,
    });
    const spiffeId = request.spiffeId.toString();
    const issued = leaf.sign({ spkiDer: csr.spkiDer, spiffeId, dnsNames: request.dnsNames, notBefore, notAfter });
    this.observeSeconds((performance.now() - started) / 1000);
    return { spiffeId, chainDer: [issued.der, ...authority.chainDer], signingChainPem: chainPem, serialHex: issued.serialHex, notAfter };
  }

  private currentSigner(): Signer {
    const authority = this.authorities.active();
    if (this.signer?.authority.id !== authority.id) {
      const leaf = createLeafSigner({
        issuerCertDer: authority.certificateDer,
        issuerKey: authority.privateKey,
        subject: this.policy.subject || undefined,
      });
      this.signer = { authority, leaf, chainPem: authority.chainDer.map(derToPem) };
    }
    return this.signer;
  }
}
