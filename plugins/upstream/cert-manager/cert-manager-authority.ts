import { kubeConfigFrom } from '../../../core/kubernetes/kubeconfig.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { certificatesFromPem } from '../../../core/x509/chain.js';
import { invalidArgument, MeshidError } from '../../../core/errors.js';
import { createLogger, type Logger } from '../../../core/log.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import { parseSigningCaCsr } from '../self-signed/csr.js';
import { distinctCertificates, isSelfSigned } from '../shared/certificates.js';
import { upstreamFailureRecorder, type FailureRecorder } from '../shared/failure-metrics.js';
import { checkMintRequest } from '../shared/mint-request.js';
import { RootsNotifier } from '../shared/roots-notifier.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../../api/upstream-authority.js';
import { CertificateRequests, requestOutcome, type RequestOutcome } from './certificate-requests.js';
import { resolveCertManagerConfig, type CertManagerUpstreamConfig, type ResolvedCertManagerConfig } from './config.js';

/** How often a pending CertificateRequest is read again (SPIRE's plugin polls at the same pace). */
const POLL_INTERVAL_MS = 250;
export const TRUST_DOMAIN_LABEL = 'cert-manager.spiffe.io/trust-domain';

export interface CertManagerAuthorityDeps {
  log?: Logger;
  /** Counts failures in meshid_ca_upstream_failures_total{upstream="cert-manager"}. */
  registry?: Registry;
}

/**
 * cert-manager as upstream: each signing-CA CSR becomes a cert-manager.io/v1 CertificateRequest (isCA, usages
 * cert sign + crl sign) for the configured issuer; meshid waits for Approved + Ready, takes status.certificate
 * and status.ca, and deletes the request whatever the outcome (requests are single use).
 */
export class CertManagerAuthority implements UpstreamAuthority {
  readonly name = 'cert-manager';
  private readonly log: Logger;
  private readonly recordFailure: FailureRecorder;
  private readonly roots: RootsNotifier;
  private readonly closing = new AbortController();
  private state: { config: ResolvedCertManagerConfig; requests: CertificateRequests } | undefined;

  constructor(
    private readonly rawConfig: CertManagerUpstreamConfig,
    deps: CertManagerAuthorityDeps = {},
  ) {
    this.log = (deps.log ?? createLogger({ name: 'meshid' })).child({ upstream: this.name });
    this.recordFailure = upstreamFailureRecorder(this.name, deps.registry);
    this.roots = new RootsNotifier(this.log);
  }

  async start(): Promise<void> {
    const config = resolveCertManagerConfig(this.rawConfig);
    if (!config.kubeconfig && !process.env.KUBERNETES_SERVICE_HOST) {
      throw invalidArgument(
        'cert-manager upstream authority: meshid is not running in a pod (no KUBERNETES_SERVICE_HOST); set kubeconfig',
        'bad_kubeconfig',
      );
    }
    const kubeConfig = kubeConfigFrom(config.kubeconfig);
    this.state = { config, requests: new CertificateRequests(kubeConfig, config.namespace) };
    this.log.info({ namespace: config.namespace, issuer: config.issuerRef }, 'cert-manager upstream ready');
  }

  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    const { config } = this.started();
    checkMintRequest(this.name, config.trustDomain, request);
    await parseSigningCaCsr(request.csrPem);
    try {
      const result = await this.issue(request);
      this.roots.note(result.upstreamRoots);
      return result;
    } catch (err) {
      this.recordFailure(err instanceof MeshidError ? err.reason : 'cert_manager_failed');
      throw err;
    }
  }

  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void {
    return this.roots.listen(listener);
  }

  /** Stops waiting for issuers (their requests are still deleted). */
  async close(): Promise<void> {
    this.closing.abort();
    this.roots.clear();
  }

  private async issue(request: MintX509CaRequest): Promise<MintX509CaResult> {
    const { config, requests } = this.started();
    const name = await requests.create({
      csrPem: request.csrPem,
      durationSeconds: request.preferredTtlSeconds,
      issuerRef: config.issuerRef,
      labels: { [TRUST_DOMAIN_LABEL]: config.trustDomain.name },
    });
    const what = `CertificateRequest ${config.namespace}/${name} for ${config.issuerRef.kind} "${config.issuerRef.name}"`;
    try {
      const outcome = await this.awaitOutcome(requests, name, config.timeoutMs);
      switch (outcome.state) {
        case 'issued':
          return chainFromIssued(outcome.certificatePem, outcome.caPem, what);
        case 'denied':
          throw new MeshidError('PERMISSION_DENIED', `cert-manager upstream authority: ${what} was denied (${outcome.detail})`, 'cert_manager_denied');
        case 'failed':
          throw new MeshidError('FAILED_PRECONDITION', `cert-manager upstream authority: ${what} failed (${outcome.detail})`, 'cert_manager_failed');
        case 'pending':
          throw new MeshidError(
            'UNAVAILABLE',
            `cert-manager upstream authority: ${what} was not issued within ${config.timeoutMs / 1000} s (${outcome.detail})`,
            'cert_manager_timeout',
          );
      }
    } finally {
      await requests.delete(name).catch((err: unknown) => this.log.warn({ err, name }, 'deleting a finished CertificateRequest failed'));
    }
  }

  /** Reads the request every POLL_INTERVAL_MS until it is final or the deadline passes (then the last pending state). */
  private async awaitOutcome(requests: CertificateRequests, name: string, timeoutMs: number): Promise<RequestOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.closing.signal.aborted) {
        throw new MeshidError('UNAVAILABLE', 'cert-manager upstream authority was closed while waiting for an issuer', 'closed');
      }
      const outcome = requestOutcome(await requests.get(name));
      const left = deadline - Date.now();
      if (outcome.state !== 'pending' || left <= 0) return outcome;
      await delay(Math.min(POLL_INTERVAL_MS, left), undefined, { signal: this.closing.signal }).catch(() => undefined);
    }
  }

  private started() {
    if (!this.state) throw new MeshidError('FAILED_PRECONDITION', 'cert-manager upstream authority has not been started');
    return this.state;
  }
}

/** status.certificate: meshid's CA, maybe followed by intermediates; status.ca: the roots. */
function chainFromIssued(certificatePem: string, caPem: string, what: string): MintX509CaResult {
  const bad = (why: string) => new MeshidError('FAILED_PRECONDITION', `cert-manager upstream authority: ${what} ${why}`, 'cert_manager_bad_response');
  if (!caPem.trim()) throw bad('was issued without status.ca, so the root is unknown; use an issuer that reports its CA');
  const issued = certificatesFromPem(certificatePem, `${what} status.certificate`);
  const roots = distinctCertificates(certificatesFromPem(caPem, `${what} status.ca`));
  const intermediates = distinctCertificates(issued.slice(1), [issued[0]!, ...roots]).filter((c) => !isSelfSigned(c));
  // cert-manager's CA issuer signs for the whole duration asked, even past the end of its own CA.
  const issuerEnd = new Date(Math.min(...[...intermediates, ...roots].map((c) => c.notAfter.getTime())));
  if (issued[0]!.notAfter > issuerEnd) {
    throw bad(
      `was issued until ${issued[0]!.notAfter.toISOString()}, past the end of the issuer's CA chain (${issuerEnd.toISOString()}), ` +
        'so its SVIDs would stop verifying first; renew the issuer\'s CA or lower ca.intermediateTtl',
    );
  }
  return { x509CaChain: [issued[0]!, ...intermediates], upstreamRoots: roots };
}
