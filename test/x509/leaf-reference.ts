import { issuerKeyId } from '../../core/x509/ca-cert.js';
import { keyAlgorithmOf, subjectKeyIdentifier, toCryptoKey, webCryptoSigningAlgorithm } from '../../core/x509/keys.js';
import { checkLeafRequest, LEAF_EXT_KEY_USAGES, leafKeyUsages, type LeafRequest, type LeafSignerOptions } from '../../core/x509/leaf.js';
import { KEY_USAGE_BIT } from '../../core/x509/oids.js';
import { x509 } from '../../core/x509/peculiar.js';

/**
 * The X509-SVID leaf built the straightforward way, with @peculiar/x509. Too slow for issuance (see
 * bench/issuance.bench.ts); it exists as the independent reference the fast path in leaf.ts is tested against.
 * `serial` is required so both paths can be compared byte for byte.
 */
export async function createLeafCertificateReference(
  options: LeafSignerOptions,
  req: LeafRequest & { serial: Uint8Array },
): Promise<x509.X509Certificate> {
  checkLeafRequest(req);
  const issuer = new x509.X509Certificate(options.issuerCertDer);
  const publicKey = new x509.PublicKey(req.spkiDer);
  const keyType = publicKey.algorithm.name === 'ECDSA' ? 'ec' : 'rsa';
  const keyUsageFlags = leafKeyUsages(keyType).reduce((flags, u) => flags | (1 << KEY_USAGE_BIT[u]), 0);
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: req.spiffeId },
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  return x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(req.serial).toString('hex'),
    subject: options.subject,
    issuer: issuer.subjectName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: req.spkiDer,
    signingKey: await toCryptoKey(options.issuerKey, 'sign'),
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(options.issuerKey)),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsageFlags, true),
      new x509.ExtendedKeyUsageExtension([...LEAF_EXT_KEY_USAGES], false),
      new x509.SubjectKeyIdentifierExtension(subjectKeyIdentifier(req.spkiDer).toString('hex')),
      new x509.AuthorityKeyIdentifierExtension(issuerKeyId(issuer).toString('hex')),
      new x509.SubjectAlternativeNameExtension(names, !options.subject),
    ],
  });
}
