import { X509Certificate } from 'node:crypto';
import { unauthenticated } from '../../core/errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import { LEAF_BACKDATE_SECONDS } from '../../core/x509/leaf.js';

/**
 * Authenticates a caller by the X509-SVID it presented as TLS client certificate: the leaf must have been
 * signed by one of meshid's own signing CAs (active, prepared or retired-but-unexpired), be inside its
 * validity window and carry exactly one SPIFFE ID. The TLS layer only requests the certificate; this is
 * the check, done against the journal's authorities so it follows rotation without a listener restart.
 */
export interface PeerSvid {
  id: SpiffeId;
  /** Lower-case hex without leading zero bytes, as the issuer records it. */
  serialHex: string;
  /** The TTL it was issued with (its validity less the backdating): a renewal over mTLS may not outlive it. */
  lifetimeSeconds: number;
  notAfter: Date;
}

export function attestPeerSvid(leafDer: Buffer | undefined, issuers: readonly X509Certificate[], now: Date): PeerSvid {
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
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (t < notBefore || t > notAfter) {
    throw unauthenticated(`client certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo})`, 'expired_client_certificate');
  }
  const uris = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
  if (uris.length !== 1) {
    throw unauthenticated('client certificate must carry exactly one SPIFFE ID URI SAN', 'bad_client_certificate');
  }
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(uris[0]!);
  } catch (err) {
    throw unauthenticated(`client certificate URI SAN is not a SPIFFE ID: ${(err as Error).message}`, 'bad_client_certificate');
  }
  return {
    id,
    serialHex: leaf.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ''),
    lifetimeSeconds: Math.max(1, Math.round((notAfter - notBefore) / 1000) - LEAF_BACKDATE_SECONDS),
    notAfter: new Date(notAfter),
  };
}
