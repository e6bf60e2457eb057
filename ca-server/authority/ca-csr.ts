import type { KeyObject, webcrypto } from 'node:crypto';
import type { TrustDomain } from '../../core/spiffeid.js';
import { keyAlgorithmOf, toCryptoKey, webCryptoSigningAlgorithm } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';

/**
 * PEM CSR for meshid's signing CA: cA=true with pathLen 0, keyCertSign + cRLSign, and the trust domain ID as
 * URI SAN, so upstreams that copy CSR values (Vault use_csr_values, cert-manager) get the right profile.
 */
export async function createCaCsrPem(options: {
  privateKey: KeyObject;
  publicKey: KeyObject;
  subject: string;
  trustDomain: TrustDomain;
}): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject,
    keys: {
      privateKey: await toCryptoKey(options.privateKey, 'sign'),
      publicKey: await toCryptoKey(options.publicKey, 'verify'),
    } as webcrypto.CryptoKeyPair,
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(options.privateKey)),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: options.trustDomain.id }], false),
    ],
  });
  return csr.toString('pem');
}
