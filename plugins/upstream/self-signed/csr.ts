import { createPublicKey, type KeyObject } from 'node:crypto';
import { invalidArgument } from '../../../core/errors.js';
import { keyAlgorithmOf } from '../../../core/x509/keys.js';
import { x509 } from '../../../core/x509/peculiar.js';

export interface VerifiedCsr {
  publicKey: KeyObject;
  /** Distinguished name as text; empty when the CSR has none. */
  subject: string;
}

/** Parses a PEM CSR for a signing CA and checks its proof of possession and key type. */
export async function parseSigningCaCsr(csrPem: string): Promise<VerifiedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw invalidArgument('signing-CA CSR is not a PEM PKCS#10 certificate request', 'bad_csr');
  }
  const verified = await csr.verify().catch(() => false);
  if (!verified) throw invalidArgument('signing-CA CSR signature does not verify (no proof of key possession)', 'bad_csr');
  const publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  keyAlgorithmOf(publicKey); // rejects key types and sizes meshid does not sign with
  return { publicKey, subject: csr.subject };
}
