import type { Logger } from 'pino';
import type { SpiffeId } from '../core/spiffeid.js';
import { RotatingTlsIdentity } from '../core/tls-identity.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair, privateKeyToPem } from '../core/x509/keys.js';
import { dersToPem } from '../core/x509/pem.js';
import type { X509SvidIssuer } from './issuance/x509-svid-issuer.js';

/**
 * The CA server's own TLS certificate: an SVID for spiffe://<td>/meshid/server with the configured DNS
 * names, issued through the same path as every other SVID and re-issued at half its lifetime or when the
 * signing authority changes. The private key lives only in memory.
 */
export class ServingIdentity {
  readonly tls = new RotatingTlsIdentity();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      spiffeId: SpiffeId;
      dnsNames: string[];
      issuer: X509SvidIssuer;
      rootBundlePem: () => string;
      log: Logger;
    },
  ) {}

  async refresh(): Promise<void> {
    const { privateKey, publicKey } = generateKeyPair();
    const csrPem = createCsrPem({ privateKey, publicKey, spiffeId: this.options.spiffeId, dnsNames: this.options.dnsNames });
    const svid = await this.options.issuer.issue({ csrPem, spiffeId: this.options.spiffeId, dnsNames: this.options.dnsNames });
    this.tls.setIdentity(dersToPem(svid.chainDer), privateKeyToPem(privateKey));
    this.tls.setTrustAnchors(this.options.rootBundlePem());
    this.schedule(svid.notAfter);
    this.options.log.info({ notAfter: svid.notAfter, serial: svid.serialHex }, 'serving certificate issued');
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private schedule(notAfter: Date): void {
    clearTimeout(this.timer);
    const halfLife = Math.max(1000, (notAfter.getTime() - Date.now()) / 2);
    this.timer = setTimeout(() => {
      this.refresh().catch((err: unknown) => this.options.log.error({ err }, 'serving certificate renewal failed; retrying'));
    }, Math.min(halfLife, 2 ** 31 - 1));
    this.timer.unref();
  }
}
