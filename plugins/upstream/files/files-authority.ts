import { watch, type FSWatcher } from 'node:fs';
import type { Registry } from 'prom-client';
import { MeshidError } from '../../../core/errors.js';
import { createLogger, type Logger } from '../../../core/log.js';
import { createCaCertificate } from '../../../core/x509/ca-cert.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import { parseSigningCaCsr } from '../self-signed/csr.js';
import { upstreamFailureRecorder, type FailureRecorder } from '../shared/failure-metrics.js';
import { checkMintRequest } from '../shared/mint-request.js';
import { RootsNotifier } from '../shared/roots-notifier.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../../api/upstream-authority.js';
import { resolveFilesConfig, type FilesUpstreamConfig, type ResolvedFilesConfig } from './config.js';
import { loadOperatorCa, type OperatorCa } from './operator-ca.js';

const BACKDATE_MS = 10_000;

export interface FilesAuthorityDeps {
  now?: () => Date;
  log?: Logger;
  /** Counts rejected reloads in meshid_ca_upstream_failures_total. */
  registry?: Registry;
}

/**
 * The operator's own CA, from files (Istio's `cacerts` or a kubernetes.io/tls secret): meshid's signing CAs are
 * signed with the operator CA key, so they chain to the operator's roots. The directory is watched; a changed,
 * valid set replaces the old one without a restart (listeners hear about it), a bad set is logged and ignored.
 */
export class FilesAuthority implements UpstreamAuthority {
  readonly name = 'files';
  private readonly roots: RootsNotifier;
  private readonly changeListeners = new Set<() => void>();
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly recordFailure: FailureRecorder;
  private config: ResolvedFilesConfig | undefined;
  private ca: OperatorCa | undefined;
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly rawConfig: FilesUpstreamConfig,
    deps: FilesAuthorityDeps = {},
  ) {
    this.now = deps.now ?? (() => new Date());
    this.log = (deps.log ?? createLogger({ name: 'meshid' })).child({ upstream: this.name });
    this.recordFailure = upstreamFailureRecorder(this.name, deps.registry);
    this.roots = new RootsNotifier(this.log);
  }

  async start(): Promise<void> {
    const config = resolveFilesConfig(this.rawConfig);
    this.ca = await loadOperatorCa(config.dir, this.now());
    this.config = config;
    this.roots.note(this.ca.roots);
    this.watcher = watch(config.dir, () => this.scheduleReload());
    this.watcher.on('error', (err) => {
      this.recordFailure('watch_failed');
      this.log.error({ err, dir: config.dir }, 'watching the operator CA directory failed; changes are no longer picked up');
    });
    this.watcher.unref();
    this.log.info({ dir: config.dir, layout: this.ca.layout, ca: this.ca.issuer.certificate.subject }, 'operator CA loaded');
  }

  /** Signs the CSR with the operator CA key, valid for min(preferred TTL, what is left of the operator CA). */
  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    const { config, ca } = this.started();
    checkMintRequest(this.name, config.trustDomain, request);
    const csr = await parseSigningCaCsr(request.csrPem);
    const now = this.now().getTime();
    const { certificate: issuer } = ca.issuer;
    const notAfter = Math.min(now + request.preferredTtlSeconds * 1000, issuer.notAfter.getTime());
    if (notAfter <= now) {
      throw new MeshidError('FAILED_PRECONDITION', `files upstream authority: the operator CA expired at ${issuer.notAfter.toISOString()}`, 'operator_ca_expired');
    }
    const certificate = await createCaCertificate({
      subject: csr.subject || `O=meshid, CN=meshid intermediate ${config.trustDomain.name}`,
      publicKey: csr.publicKey,
      notBefore: new Date(Math.max(now - BACKDATE_MS, issuer.notBefore.getTime())),
      notAfter: new Date(notAfter),
      trustDomain: config.trustDomain,
      pathLength: 0,
      issuer: ca.issuer,
    });
    return { x509CaChain: [certificate, ...ca.chain], upstreamRoots: [...ca.roots] };
  }

  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void {
    return this.roots.listen(listener);
  }

  /** Called after a reload brought a different operator CA: signing CAs minted from now on chain to it. */
  onUpstreamChanged(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Rereads the directory (the watcher calls this). Returns whether the operator CA changed; a bad set is
   * logged, counted and thrown, and the previous CA stays in use.
   */
  reload(): Promise<boolean> {
    const run = this.reloading.then(() => this.reloadNow());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    this.watcher = undefined;
    await this.reloading;
    this.roots.clear();
    this.changeListeners.clear();
    this.ca = undefined;
  }

  private scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => void this.reload().catch(() => undefined), this.config!.reloadDelayMs);
    this.reloadTimer.unref();
  }

  private async reloadNow(): Promise<boolean> {
    const { config, ca: previous } = this.started();
    let next: OperatorCa;
    try {
      next = await loadOperatorCa(config.dir, this.now());
    } catch (err) {
      this.recordFailure('reload_rejected');
      this.log.error({ err, dir: config.dir }, 'the new operator CA files were rejected; still signing with the previous operator CA');
      throw err;
    }
    if (!this.ca || next.key === previous.key) return false;
    this.ca = next;
    this.log.info({ dir: config.dir, layout: next.layout, ca: next.issuer.certificate.subject }, 'operator CA changed');
    this.roots.note(next.roots);
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch (err) {
        this.log.error({ err }, 'an operator CA change listener failed');
      }
    }
    return true;
  }

  private started(): { config: ResolvedFilesConfig; ca: OperatorCa } {
    if (!this.config || !this.ca) throw new MeshidError('FAILED_PRECONDITION', 'files upstream authority has not been started');
    return { config: this.config, ca: this.ca };
  }
}
