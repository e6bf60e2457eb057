import { fingerprint } from '../../../core/x509/chain.js';
import { MeshidError, invalidArgument } from '../../../core/errors.js';
import { createCaCertificate } from '../../../core/x509/ca-cert.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import type { MintX509CaRequest, MintX509CaResult, PreparedRoot, UpstreamAuthority } from '../../api/upstream-authority.js';
import { resolveSelfSignedConfig, type ResolvedSelfSignedConfig, type SelfSignedConfig } from './config.js';
import { parseSigningCaCsr } from './csr.js';
import { createRotatedRoot, hasRotatedRoots, loadOrCreateRoot, loadRotatedRoot, type Root } from './root-files.js';

const BACKDATE_MS = 10_000;

/**
 * The embedded default root: a self-signed CA kept in the data dir, created on first start, reused after.
 * It signs meshid's signing-CA CSRs with pathLen 0 and the trust domain ID as URI SAN. Root rotation adds
 * further roots (prepareRoot); which one signs is then the authority journal's call, passed in each request.
 */
export class SelfSignedAuthority implements UpstreamAuthority {
  readonly name = 'self-signed';
  private readonly listeners = new Set<(roots: x509.X509Certificate[]) => void>();
  private readonly now: () => Date;
  private config: ResolvedSelfSignedConfig | undefined;
  private root: Root | undefined;
  /** Roots from root rotation, by certificate fingerprint, loaded on first use. */
  private readonly rotated = new Map<string, Root>();

  constructor(
    private readonly rawConfig: SelfSignedConfig,
    deps: { now?: () => Date } = {},
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const config = resolveSelfSignedConfig(this.rawConfig);
    const root = await loadOrCreateRoot(config, this.now());
    // After a root rotation the original root may expire unused; mintX509Ca still refuses an expired one.
    if (root.certificate.notAfter <= this.now() && !(await hasRotatedRoots(config.dataDir))) {
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
    const { config } = this.started();
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
    const root = await this.signingRoot(request.root);
    const now = this.now().getTime();
    const rootEnd = root.certificate.notAfter.getTime();
    if (rootEnd <= now) {
      throw new MeshidError(
        'FAILED_PRECONDITION',
        `self-signed upstream authority: the root "${root.certificate.subject}" has expired`,
        'root_expired',
      );
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

  /** A new root (key 0600 next to the current one); it signs only requests that name it. */
  async prepareRoot(): Promise<PreparedRoot> {
    const { config } = this.started();
    const { root, keyPath } = await createRotatedRoot(config, this.now());
    this.rotated.set(fingerprint(root.certificate), root);
    return { certificate: root.certificate, keyPath };
  }

  /**
   * Roots change only through root rotation, which the authority manager drives and publishes itself, so
   * nothing is ever reported here.
   */
  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.rotated.clear();
    this.root = undefined;
  }

  /** The original root unless the request names another one of ours. */
  private async signingRoot(requested: x509.X509Certificate | undefined): Promise<Root> {
    const { config, root } = this.started();
    if (!requested) return root;
    const key = fingerprint(requested);
    if (key === fingerprint(root.certificate)) return root;
    let rotated = this.rotated.get(key);
    if (!rotated) {
      rotated = await loadRotatedRoot(config, requested);
      this.rotated.set(key, rotated);
    }
    return rotated;
  }

  private started(): { config: ResolvedSelfSignedConfig; root: Root } {
    if (!this.config || !this.root) {
      throw new MeshidError('FAILED_PRECONDITION', 'self-signed upstream authority has not been started');
    }
    return { config: this.config, root: this.root };
  }
}
