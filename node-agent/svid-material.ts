import { X509Certificate, type KeyObject } from 'node:crypto';
import { MeshidError } from '../core/errors.js';
import { privateKeyToPem, privateKeyToPkcs8Der } from '../core/x509/keys.js';
import { dersToPem } from '../core/x509/pem.js';
import type { TrustBundle__Output } from '../protos/gen/meshid/v1/TrustBundle.js';
import type { X509SVID__Output } from '../protos/gen/meshid/v1/X509SVID.js';
import type { TrustBundleMaterial, X509SvidMaterial } from './identity-source.js';

/** PEM of certificates from the CA, each of which must parse (node:crypto throws otherwise). */
function parsedPem(ders: readonly Buffer[]): string {
  for (const der of ders) new X509Certificate(der);
  return dersToPem(ders);
}

/**
 * An SVID the CA returned for our locally generated key, checked before use: a leaf that does not hold our
 * public key, or that names another SPIFFE ID than the CA says, is a CA fault and is refused.
 */
export function x509Material(svid: X509SVID__Output | null | undefined, privateKey: KeyObject): X509SvidMaterial {
  const leafDer = svid?.cert_chain[0];
  if (!svid || !leafDer) throw new MeshidError('INTERNAL', 'CA answered without an X509-SVID', 'ca_bad_response');
  const leaf = new X509Certificate(leafDer);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new MeshidError('INTERNAL', `CA returned an SVID for ${svid.spiffe_id} that does not hold the requested key`, 'ca_bad_response');
  }
  if (!leaf.subjectAltName?.split(', ').includes(`URI:${svid.spiffe_id}`)) {
    throw new MeshidError('INTERNAL', `CA returned an SVID whose URI SAN is not ${svid.spiffe_id}`, 'ca_bad_response');
  }
  return {
    spiffeId: svid.spiffe_id,
    chainDer: svid.cert_chain,
    chainPem: parsedPem(svid.cert_chain),
    privateKeyDer: privateKeyToPkcs8Der(privateKey),
    privateKeyPem: privateKeyToPem(privateKey),
    notAfter: new Date(leaf.validTo),
  };
}

export function bundleMaterial(bundle: TrustBundle__Output): TrustBundleMaterial {
  if (!bundle.trust_domain.startsWith('spiffe://') || bundle.x509_authorities.length === 0) {
    throw new MeshidError('INTERNAL', 'CA sent a trust bundle without a trust domain or X.509 roots', 'ca_bad_response');
  }
  return {
    trustDomainId: bundle.trust_domain,
    rootsDer: bundle.x509_authorities,
    rootsPem: parsedPem(bundle.x509_authorities),
    jwks: bundle.jwks,
    sequence: bundle.sequence,
  };
}
