import type { experimental } from '@grpc/grpc-js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * A grpc-js certificate provider whose identity and trust anchors can be replaced at run time, so a
 * serving certificate rotates without restarting the listener. Used with
 * experimental.createCertificateProviderServerCredentials / ...ChannelCredentials.
 */
export class RotatingTlsIdentity implements CertificateProvider {
  private identity: { certificate: Buffer; privateKey: Buffer } | null = null;
  private ca: { caCertificate: Buffer } | null = null;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();

  /** PEM certificate chain (leaf first) and PEM private key. */
  setIdentity(certificateChainPem: string, privateKeyPem: string): void {
    this.identity = { certificate: Buffer.from(certificateChainPem), privateKey: Buffer.from(privateKeyPem) };
    for (const listener of this.identityListeners) listener(this.identity);
  }

  /** PEM trust anchors used to verify the peer. */
  setTrustAnchors(pem: string): void {
    this.ca = { caCertificate: Buffer.from(pem) };
    for (const listener of this.caListeners) listener(this.ca);
  }

  // Current values reach a new listener on the next tick: grpc-js subscribes before it registers the
  // watcher that applies them, so a synchronous call would be lost and the server would stay without a cert.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => this.identity && this.identityListeners.has(listener) && listener(this.identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => this.ca && this.caListeners.has(listener) && listener(this.ca));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
}
