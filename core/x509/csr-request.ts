import type { KeyObject, webcrypto } from 'node:crypto';
import type { SpiffeId } from '../spiffeid.js';
import { keyAlgorithmOf, toCryptoKey, webCryptoSigningAlgorithm } from './keys.js';
import { x509 } from './peculiar.js';

/**
 * Builds a PEM CSR for a locally generated key (node agents, the CA's own serving identity, tests). Not a
 * hot path: agents request a handful of certificates per rotation, so @peculiar/x509 does the encoding.
 */
export async function createCsrPem(options: {
  privateKey: KeyObject;
  publicKey: KeyObject;
  spiffeId?: SpiffeId;
  dnsNames?: string[];
  subject?: string;
}): Promise<string> {
  const names: x509.JsonGeneralName[] = [
    ...(options.spiffeId ? [{ type: 'url' as const, value: options.spiffeId.toString() }] : []),
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? '',
    keys: {
      privateKey: await toCryptoKey(options.privateKey, 'sign'),
      publicKey: await toCryptoKey(options.publicKey, 'verify'),
    } as webcrypto.CryptoKeyPair,
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(options.privateKey)),
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem');
}
