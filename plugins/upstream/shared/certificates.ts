import { fingerprint } from '../../../core/x509/chain.js';
import { X509Certificate as NodeCertificate } from 'node:crypto';
import type { x509 } from '../../../core/x509/peculiar.js';

/** Whether a certificate is signed by its own key (a root). */
export function isSelfSigned(cert: x509.X509Certificate): boolean {
  const node = new NodeCertificate(Buffer.from(cert.rawData));
  return node.checkIssued(node) && node.verify(node.publicKey);
}

/** Each certificate once, in first-seen order, leaving out those in `exclude`. */
export function distinctCertificates(
  certs: x509.X509Certificate[],
  exclude: x509.X509Certificate[] = [],
): x509.X509Certificate[] {
  const seen = new Set(exclude.map(fingerprint));
  return certs.filter((cert) => {
    const key = fingerprint(cert);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Order-independent identity of a set of certificates, to tell a real change from a rewrite of the same set. */
export function certificateSetKey(certs: x509.X509Certificate[]): string {
  return certs.map(fingerprint).sort().join(',');
}
