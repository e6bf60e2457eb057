import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { invalidArgument } from '../../core/errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import type { TrustBundleMaterial } from '../identity-source.js';
import { jwtKeys } from './messages.js';

/** JWT-SVID spec: RS/ES/PS with SHA-256/384/512. Never "none", never HMAC. */
export const JWT_SVID_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
const ALLOWED_TYPES = new Set(['JWT', 'JOSE']);
const PUBLIC_KEY_PARAMS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

export interface ValidatedJwtSvid {
  spiffeId: string;
  claims: JWTPayload;
}

/**
 * Validates a JWT-SVID for `audience` against the JWT bundle of the trust domain named by its `sub`: the
 * signature must come from a key whose kid is in that bundle, with an allowed algorithm; `exp` must lie
 * ahead and `aud` must contain `audience`. Every failure is INVALID_ARGUMENT saying what was wrong.
 */
export async function validateJwtSvid(
  token: string,
  audience: string,
  bundles: ReadonlyMap<string, TrustBundleMaterial>,
): Promise<ValidatedJwtSvid> {
  const bad = (why: string) => invalidArgument(`JWT-SVID is not valid: ${why}`, 'bad_jwt_svid');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    throw bad('not a JWS compact serialization');
  }
  if (!header.alg || !JWT_SVID_ALGORITHMS.includes(header.alg)) {
    throw bad(`algorithm ${header.alg ?? '(none)'} is not allowed (use one of ${JWT_SVID_ALGORITHMS.join(', ')})`);
  }
  if (header.typ !== undefined && !ALLOWED_TYPES.has(header.typ)) throw bad(`header typ "${header.typ}" is not JWT or JOSE`);
  if (!header.kid) throw bad('the header has no kid');
  if (typeof unverified.sub !== 'string') throw bad('the sub claim is missing');
  let subject: SpiffeId;
  try {
    subject = SpiffeId.parse(unverified.sub);
  } catch (err) {
    throw bad(`sub is not a SPIFFE ID (${(err as Error).message})`);
  }
  const bundle = bundles.get(subject.trustDomain.id);
  if (!bundle) throw bad(`no bundle for trust domain ${subject.trustDomain.name}`);
  const jwk = jwtKeys(bundle).find((key) => key.kid === header.kid);
  if (!jwk) throw bad(`key ${header.kid} is not in the JWT bundle of ${subject.trustDomain.name}`);

  try {
    const publicJwk = Object.fromEntries(PUBLIC_KEY_PARAMS.filter((p) => jwk[p] !== undefined).map((p) => [p, jwk[p]])) as JWK;
    const key = await importJWK(publicJwk, header.alg);
    const { payload } = await jwtVerify(token, key, {
      algorithms: JWT_SVID_ALGORITHMS,
      audience,
      requiredClaims: ['sub', 'aud', 'exp'],
    });
    return { spiffeId: subject.toString(), claims: payload };
  } catch (err) {
    throw bad((err as Error).message);
  }
}
