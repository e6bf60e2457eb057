import { invalidArgument, permissionDenied } from '../../core/errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import type { AnyExtension } from '@grpc/proto-loader';
import type { Secret } from '../../protos/gen/envoy/extensions/transport_sockets/tls/v3/Secret.js';
import type { SPIFFECertValidatorConfig } from '../../protos/gen/envoy/extensions/transport_sockets/tls/v3/SPIFFECertValidatorConfig.js';
import type { TrustBundleMaterial, X509SvidMaterial } from '../identity-source.js';

export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
export const SPIFFE_VALIDATOR_NAME = 'envoy.tls.cert_validator.spiffe';
const SPIFFE_VALIDATOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';

/** Resource names with a fixed meaning (Istio's conventions). */
export const DEFAULT_CERT = 'default';
export const OWN_ROOTS = 'ROOTCA';
export const ALL_ROOTS = 'ALL';

/**
 * How validation contexts check peers: `spiffe` (default) uses Envoy's SPIFFE validator, which picks the
 * bundle by the peer's trust domain so no trust domain can vouch for another; `trusted_ca` is plain X.509
 * path validation against all roots together, for Envoys or filters that cannot use the SPIFFE validator.
 */
export type ValidationMode = 'spiffe' | 'trusted_ca';

export interface SecretInputs {
  /** The caller's SVIDs, default first; only read when a requested name needs them (see needsSvids). */
  svids: readonly X509SvidMaterial[];
  bundles: ReadonlyMap<string, TrustBundleMaterial>;
  ownBundle: TrustBundleMaterial;
  validation: ValidationMode;
}

/** Whether serving `names` needs the caller's certificates (an empty list means everything it has). */
export function needsSvids(names: readonly string[]): boolean {
  return names.length === 0 || names.some((name) => name === DEFAULT_CERT || isIdentityName(name));
}

/**
 * The secrets for the requested resource names, in request order. An empty list means everything the caller
 * has: `default`, each SVID under its SPIFFE ID, `ROOTCA`, `ALL` and each trust domain's bundle. A trust
 * domain without a bundle (yet) is left out, as xDS expects for resources that do not exist; an identity the
 * caller does not hold is refused.
 */
export function resolveSecrets(names: readonly string[], inputs: SecretInputs): Secret[] {
  if (names.length === 0) return everything(inputs);
  const secrets: Secret[] = [];
  for (const name of new Set(names)) {
    const secret = resolveOne(name, inputs);
    if (secret) secrets.push(secret);
  }
  return secrets;
}

function everything(inputs: SecretInputs): Secret[] {
  const [first] = inputs.svids;
  if (!first) throw noIdentity();
  return [
    tlsCertificate(DEFAULT_CERT, first),
    ...inputs.svids.map((svid) => tlsCertificate(svid.spiffeId, svid)),
    validationContext(OWN_ROOTS, [inputs.ownBundle], inputs.validation),
    validationContext(ALL_ROOTS, allBundles(inputs), inputs.validation),
    ...allBundles(inputs).map((bundle) => validationContext(bundle.trustDomainId, [bundle], inputs.validation)),
  ];
}

function resolveOne(name: string, inputs: SecretInputs): Secret | undefined {
  switch (name) {
    case DEFAULT_CERT: {
      const [first] = inputs.svids;
      if (!first) throw noIdentity();
      return tlsCertificate(DEFAULT_CERT, first);
    }
    case OWN_ROOTS:
      return validationContext(OWN_ROOTS, [inputs.ownBundle], inputs.validation);
    case ALL_ROOTS:
      return validationContext(ALL_ROOTS, allBundles(inputs), inputs.validation);
  }
  const id = parseResourceId(name);
  if (id.path === '') {
    const bundle = inputs.bundles.get(id.trustDomain.id);
    return bundle && validationContext(name, [bundle], inputs.validation);
  }
  const svid = inputs.svids.find((s) => s.spiffeId === name);
  if (!svid) throw permissionDenied(`this caller holds no SVID for ${name}`, 'identity_not_held');
  return tlsCertificate(name, svid);
}

function parseResourceId(name: string): SpiffeId {
  const unknown = () =>
    invalidArgument(
      `unknown SDS resource name "${name}": use "${DEFAULT_CERT}", "${OWN_ROOTS}", "${ALL_ROOTS}", ` +
        'spiffe://<trust domain> (its bundle) or a SPIFFE ID the caller holds',
      'bad_resource_name',
    );
  if (!name.startsWith('spiffe://')) throw unknown();
  try {
    return SpiffeId.parse(name);
  } catch {
    throw unknown();
  }
}

const isIdentityName = (name: string) => name.startsWith('spiffe://') && name.indexOf('/', 'spiffe://'.length) !== -1;

const noIdentity = () => permissionDenied('no identity is registered for this caller', 'no_identity');

/** Own trust domain first, then the federated ones by ID: a stable order keeps versions stable. */
function allBundles(inputs: SecretInputs): TrustBundleMaterial[] {
  const others = [...inputs.bundles.values()]
    .filter((b) => b.trustDomainId !== inputs.ownBundle.trustDomainId)
    .sort((a, b) => a.trustDomainId.localeCompare(b.trustDomainId));
  return [inputs.ownBundle, ...others];
}

function tlsCertificate(name: string, svid: X509SvidMaterial): Secret {
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_bytes: Buffer.from(svid.chainPem) },
      private_key: { inline_bytes: Buffer.from(svid.privateKeyPem) },
    },
  };
}

function validationContext(name: string, bundles: readonly TrustBundleMaterial[], mode: ValidationMode): Secret {
  if (mode === 'trusted_ca') {
    return { name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(bundles.map((b) => b.rootsPem).join('')) } } };
  }
  return {
    name,
    validation_context: {
      custom_validator_config: {
        name: SPIFFE_VALIDATOR_NAME,
        typed_config: packAny<SPIFFECertValidatorConfig>(SPIFFE_VALIDATOR_TYPE_URL, {
          trust_domains: bundles.map((b) => ({
            name: b.trustDomainId.slice('spiffe://'.length),
            trust_bundle: { inline_bytes: Buffer.from(b.rootsPem) },
          })),
        }),
      },
    },
  };
}

/** A message as google.protobuf.Any, in the form proto-loader encodes (the type URL under "@type"). */
export function packAny<T extends object>(typeUrl: string, message: T): AnyExtension {
  return { '@type': typeUrl, ...message };
}
