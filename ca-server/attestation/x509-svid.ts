import { X509Certificate } from 'node:crypto';
import { unauthenticated } from '../../core/errors.js';
import { SpiffeId } from '../../core/spiffeid.js';

/**
 * Authenticates a caller by the X509-SVID it presented as TLS client certificate: the leaf must have been
 * signed by one of meshid's own signing CAs (active, prepared or retired-but-unexpired), be inside its
 * validity window and carry exactly one SPIFFE ID. The TLS layer only requests the certificate; this is
 * the check, done against the journal's authorities so it follows rotation without a listener restart.
 */
export function attestPeerSvid(leafDer: Buffer | undefined, issuers: readonly X509Certificate[], now: Date): SpiffeId {
  if (!leafDer || leafDer.length === 0) {
    throw unauthenticated('no client certificate: present your current SVID over mTLS', 'no_client_certificate');
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafDer);
  } catch {
    throw unauthenticated('client certificate could not be parsed', 'bad_client_certificate');
  }
  const issuer = issuers.find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
  if (!issuer) {
    throw unauthenticated('client certificate was not issued by this CA', 'untrusted_client_certificate');
  }
  if (leaf.ca) throw unauthenticated('client certificate is a CA certificate, not an SVID', 'bad_client_certificate');
  const t = now.getTime();
  if (t < Date.parse(leaf.validFrom) || t > Date.parse(leaf.validTo)) {
    throw unauthenticated(`client certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo})`, 'expired_client_certificate');
  }
  const uris = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
  if (uris.length !== 1) {
    throw unauthenticated('client certificate must carry exactly one SPIFFE ID URI SAN', 'bad_client_certificate');
  }
  try {
    return SpiffeId.parse(uris[0]!);
  } catch (err) {
    throw unauthenticated(`client certificate URI SAN is not a SPIFFE ID: ${(err as Error).message}`, 'bad_client_certificate');
  }
}
