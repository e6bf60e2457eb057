import { MeshidError, invalidArgument } from '../../../core/errors.js';
import { createCaCertificate } from '../../../core/x509/ca-cert.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../upstream-authority.js';
import { resolveSelfSignedConfig, type ResolvedSelfSignedConfig, type SelfSignedConfig } from './config.js';
import { parseSigningCaCsr } from './csr.js';
import { loadOrCreateRoot, type Root } from './root-files.js';

const BACKDATE_MS = 10_000;

/**
 * The embedded default root: a self-signed CA kept in the data dir, created on first start, reused after.
 * It signs meshid's signing-CA CSRs with pathLen 0 and the trust domain ID as URI SAN.
 */
export class SelfSignedAuthority implements UpstreamAuthority {
  readonly name = 'self-signed';
  private readonly listeners = new Set<(roots: x509.X509Certificate[]) => void>();
  private readonly now: () => Date;
  private config: ResolvedSelfSignedConfig | undefined;
  private root: Root | undefined;

  constructor(
    private readonly rawConfig: SelfSignedConfig,
    deps: { now?: () => Date } = {},
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const config = resolveSelfSignedConfig(this.rawConfig);
    const root = await loadOrCreateRoot(config, this.now());
    if (root.certificate.notAfter <= this.now()) {
      throw new MeshidError(
        'FAILED_PRECONDITION',
        `self-signed upstream authority: the root expired at ${root.certificate.notAfter.toISOString()}; ` +
          'a new root needs a root rotation',
        'root_expired',
      );
    }
    this.config = config;
    this.root = root;
  }

  /** Signs the CSR as an intermediate valid for min(preferred TTL, what is left of the root). */
  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    const { config, root } = this.started();
    if (!request.trustDomain.equals(config.trustDomain)) {
      throw invalidArgument(
        `self-signed upstream authority serves ${config.trustDomain.id}, not ${request.trustDomain.id}`,
        'bad_trust_domain',
      );
    }
    if (!Number.isInteger(request.preferredTtlSeconds) || request.preferredTtlSeconds <= 0) {
      throw invalidArgument(`preferred TTL must be a positive whole number of seconds, got ${request.preferredTtlSeconds}`);
    }
    const csr = await parseSigningCaCsr(request.csrPem);
    const now = this.now().getTime();
    const rootEnd = root.certificate.notAfter.getTime();
    if (rootEnd <= now) {
      throw new MeshidError('FAILED_PRECONDITION', 'self-signed upstream authority: the root has expired', 'root_expired');
    }
    const certificate = await createCaCertificate({
      subject: csr.subject || `O=meshid, CN=meshid intermediate ${config.trustDomain.name}`,
      publicKey: csr.publicKey,
      notBefore: new Date(Math.max(now - BACKDATE_MS, root.certificate.notBefore.getTime())),
      notAfter: new Date(Math.min(now + request.preferredTtlSeconds * 1000, rootEnd)),
      trustDomain: config.trustDomain,
      pathLength: 0,
      issuer: root,
    });
    return { x509CaChain: [certificate], upstreamRoots: [root.certificate] };
  }

  /** The root only changes through root rotation (not implemented yet), so listeners are kept for then. */
  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.root = undefined;
  }

  private started(): { config: ResolvedSelfSignedConfig; root: Root } {
    if (!this.config || !this.root) {
      throw new MeshidError('FAILED_PRECONDITION', 'self-signed upstream authority has not been started');
    }
    return { config: this.config, root: this.root };
  }
}
