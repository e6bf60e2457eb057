import { createPublicKey, type KeyObject } from 'node:crypto';
import { createCaCertificate, type CaIssuer } from '../../core/x509/ca-cert.js';
import { generateKeyPair } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../../plugins/api/upstream-authority.js';

/**
 * An upstream for rotation tests: signs CSRs with a 10-year root, optionally a fresh root per mint (as if the
 * upstream had rotated its root), and can be told to fail or to return a certificate for the wrong key.
 */
export class UpstreamDouble implements UpstreamAuthority {
  readonly name = 'double';
  mints = 0;
  failWith: Error | undefined;
  signWrongKey = false;
  /** When set, minting waits for it. */
  gate: Promise<void> | undefined;
  private root: CaIssuer | undefined;

  constructor(
    private readonly now: () => Date,
    private readonly newRootEachMint = false,
  ) {}

  async start(): Promise<void> {}

  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    await this.gate;
    if (this.failWith) throw this.failWith;
    this.mints++;
    if (!this.root || this.newRootEachMint) this.root = await makeRoot(this.now(), `CN=double root ${this.mints}`);
    const csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    const publicKey = this.signWrongKey
      ? generateKeyPair().publicKey
      : createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    const now = this.now().getTime();
    const ca = await createCaCertificate({
      subject: csr.subject,
      publicKey,
      notBefore: new Date(now - 10_000),
      notAfter: new Date(Math.min(now + request.preferredTtlSeconds * 1000, this.root.certificate.notAfter.getTime())),
      trustDomain: request.trustDomain,
      pathLength: 0,
      issuer: this.root,
    });
    return { x509CaChain: [ca], upstreamRoots: [this.root.certificate] };
  }

  onRootsChanged(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {}
}

export async function makeRoot(now: Date, subject: string, ttlMs = 10 * 365 * 86400_000): Promise<CaIssuer> {
  const { privateKey, publicKey }: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPair();
  const certificate = await createCaCertificate({
    subject,
    publicKey,
    selfSigningKey: privateKey,
    notBefore: new Date(now.getTime() - 10_000),
    notAfter: new Date(now.getTime() + ttlMs),
  });
  return { certificate, privateKey };
}
