import type { JWTBundlesResponse } from '../../protos/gen/JWTBundlesResponse.js';
import type { X509BundlesResponse } from '../../protos/gen/X509BundlesResponse.js';
import type { X509SVIDResponse } from '../../protos/gen/X509SVIDResponse.js';
import type { TrustBundleMaterial, X509SvidMaterial } from '../identity-source.js';

/**
 * FetchX509SVID's full state: every SVID (default first) with its DER chain (leaf first), PKCS#8 key and the
 * own trust domain's roots; the other trust domains' roots as federated bundles.
 */
export function x509SvidResponse(
  svids: readonly X509SvidMaterial[],
  bundles: ReadonlyMap<string, TrustBundleMaterial>,
  ownBundle: TrustBundleMaterial,
): X509SVIDResponse {
  const ownRoots = Buffer.concat(ownBundle.rootsDer);
  const federated = [...bundles.values()].filter((b) => b.trustDomainId !== ownBundle.trustDomainId);
  return {
    svids: svids.map((svid) => ({
      spiffe_id: svid.spiffeId,
      x509_svid: Buffer.concat(svid.chainDer),
      x509_svid_key: svid.privateKeyDer,
      bundle: ownRoots,
    })),
    federated_bundles: Object.fromEntries(federated.map((b) => [b.trustDomainId, Buffer.concat(b.rootsDer)])),
  };
}

/** FetchX509Bundles: concatenated DER roots of every trust domain, keyed "spiffe://<td>". */
export function x509BundlesResponse(bundles: ReadonlyMap<string, TrustBundleMaterial>): X509BundlesResponse {
  return { bundles: Object.fromEntries([...bundles.values()].map((b) => [b.trustDomainId, Buffer.concat(b.rootsDer)])) };
}

/**
 * FetchJWTBundles: per trust domain a JWK Set of its JWT authorities only. go-spiffe reads every key of this
 * document as a JWT authority and refuses keys without a kid, so the X.509 entries of the bundle stay out.
 */
export function jwtBundlesResponse(bundles: ReadonlyMap<string, TrustBundleMaterial>): JWTBundlesResponse {
  return {
    bundles: Object.fromEntries(
      [...bundles.values()].map((b) => [b.trustDomainId, Buffer.from(JSON.stringify({ keys: jwtKeys(b) }))]),
    ),
  };
}

/** The bundle's jwt-svid keys (each with its kid). */
export function jwtKeys(bundle: TrustBundleMaterial): Record<string, unknown>[] {
  const doc = JSON.parse(bundle.jwks) as { keys?: Record<string, unknown>[] };
  return (doc.keys ?? []).filter((key) => key.use === 'jwt-svid' && typeof key.kid === 'string' && key.kid !== '');
}
