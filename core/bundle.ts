import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { invalidArgument } from './errors.js';
import type { TrustDomain } from './spiffeid.js';
import { dersToPem } from './x509/pem.js';

/** A JWT-SVID signing key as published in a bundle. */
export interface JwtAuthority {
  keyId: string;
  publicKey: KeyObject;
}

/** One element of a SPIFFE bundle's `keys`. */
export type SpiffeJwk = JsonWebKey & { use: string; kid?: string; x5c?: string[] };

/** The SPIFFE bundle format (SPIFFE Trust Domain and Bundle, section 4). */
export interface SpiffeJwks {
  keys: SpiffeJwk[];
  spiffe_sequence?: number;
  spiffe_refresh_hint?: number;
}

export interface TrustBundleInit {
  trustDomain: TrustDomain;
  /** X.509 authorities (root certificates), DER. */
  x509Authorities: Uint8Array[];
  jwtAuthorities?: JwtAuthority[];
  sequence?: number;
  refreshHintSeconds?: number;
}

const X509_SVID_USE = 'x509-svid';
const JWT_SVID_USE = 'jwt-svid';
/** Key types this implementation reads; keys of other types are ignored, as the bundle spec requires. */
const KNOWN_KEY_TYPES: ReadonlySet<string> = new Set(['EC', 'RSA', 'OKP']);
/** Public key parameters of those types. */
const KEY_PARAMS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

/**
 * The trust bundle of one trust domain: its X.509 roots and JWT keys plus the bundle's sequence number and
 * refresh hint. Immutable; bundles of different trust domains are never merged.
 */
export class TrustBundle {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly Buffer[];
  readonly jwtAuthorities: readonly JwtAuthority[];
  readonly sequence: number | undefined;
  readonly refreshHintSeconds: number | undefined;

  constructor(init: TrustBundleInit) {
    for (const der of init.x509Authorities) parseCertificate(der, 'X.509 authority');
    const kids = new Set<string>();
    for (const { keyId } of init.jwtAuthorities ?? []) {
      if (!keyId) throw invalidArgument('every JWT authority needs a key ID', 'bad_bundle');
      if (kids.has(keyId)) throw invalidArgument(`JWT key ID "${keyId}" appears twice`, 'bad_bundle');
      kids.add(keyId);
    }
    checkCount('sequence', init.sequence);
    checkCount('refresh hint', init.refreshHintSeconds);
    this.trustDomain = init.trustDomain;
    this.x509Authorities = init.x509Authorities.map((der) => Buffer.from(der));
    this.jwtAuthorities = [...(init.jwtAuthorities ?? [])];
    this.sequence = init.sequence;
    this.refreshHintSeconds = init.refreshHintSeconds;
  }

  /** Concatenated PEM CERTIFICATE blocks of the X.509 authorities. */
  toPem(): string {
    return dersToPem(this.x509Authorities);
  }

  toJwks(): SpiffeJwks {
    const keys: SpiffeJwk[] = [
      ...this.x509Authorities.map((der) => ({
        ...publicJwk(new X509Certificate(der).publicKey),
        use: X509_SVID_USE,
        x5c: [der.toString('base64')],
      })),
      ...this.jwtAuthorities.map((a) => ({ ...publicJwk(a.publicKey), use: JWT_SVID_USE, kid: a.keyId })),
    ];
    const jwks: SpiffeJwks = { keys };
    if (this.sequence !== undefined) jwks.spiffe_sequence = this.sequence;
    if (this.refreshHintSeconds !== undefined) jwks.spiffe_refresh_hint = this.refreshHintSeconds;
    return jwks;
  }

  /**
   * Parses a SPIFFE bundle document for `trustDomain`. Keys with an unknown `use` or `kty` are ignored as
   * the spec requires; a key without `use` or `kty`, or a malformed known key, fails with INVALID_ARGUMENT
   * (reason bad_bundle). An x509-svid key must hold exactly one certificate whose key matches the JWK.
   */
  static fromJwks(trustDomain: TrustDomain, json: string): TrustBundle {
    let doc: unknown;
    try {
      doc = JSON.parse(json);
    } catch {
      throw invalidArgument('trust bundle is not valid JSON', 'bad_bundle');
    }
    if (!isObject(doc) || !Array.isArray(doc.keys)) {
      throw invalidArgument('trust bundle must be a JSON object with a "keys" array', 'bad_bundle');
    }
    const x509Authorities: Buffer[] = [];
    const jwtAuthorities: JwtAuthority[] = [];
    doc.keys.forEach((key: unknown, i: number) => {
      if (!isObject(key)) throw invalidArgument(`bundle key ${i} is not an object`, 'bad_bundle');
      if (typeof key.use !== 'string' || key.use === '') throw invalidArgument(`bundle key ${i} has no "use"`, 'bad_bundle');
      if (typeof key.kty !== 'string' || key.kty === '') throw invalidArgument(`bundle key ${i} has no "kty"`, 'bad_bundle');
      if (!KNOWN_KEY_TYPES.has(key.kty)) return;
      if (key.use === X509_SVID_USE) x509Authorities.push(readX509Authority(key, i));
      else if (key.use === JWT_SVID_USE) jwtAuthorities.push(readJwtAuthority(key, i));
    });
    return new TrustBundle({
      trustDomain,
      x509Authorities,
      jwtAuthorities,
      sequence: optionalCount(doc.spiffe_sequence, 'spiffe_sequence'),
      refreshHintSeconds: optionalCount(doc.spiffe_refresh_hint, 'spiffe_refresh_hint'),
    });
  }
}

function readX509Authority(key: Record<string, unknown>, i: number): Buffer {
  const x5c = key.x5c;
  if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== 'string') {
    const got = Array.isArray(x5c) ? x5c.length : 0;
    throw invalidArgument(`x509-svid key ${i} must carry exactly one certificate in "x5c" (got ${got})`, 'bad_bundle');
  }
  const der = Buffer.from(x5c[0], 'base64');
  const cert = parseCertificate(der, `x509-svid key ${i}`);
  const certJwk = publicJwk(cert.publicKey);
  if (KEY_PARAMS.some((p) => key[p] !== certJwk[p])) {
    throw invalidArgument(`x509-svid key ${i}: the JWK key parameters do not match its x5c certificate`, 'bad_bundle');
  }
  return der;
}

function readJwtAuthority(key: Record<string, unknown>, i: number): JwtAuthority {
  if (typeof key.kid !== 'string' || key.kid === '') {
    throw invalidArgument(`jwt-svid key ${i} has no "kid"`, 'bad_bundle');
  }
  const jwk = Object.fromEntries(KEY_PARAMS.filter((p) => key[p] !== undefined).map((p) => [p, key[p]]));
  try {
    return { keyId: key.kid, publicKey: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }) };
  } catch {
    throw invalidArgument(`jwt-svid key ${i} ("${key.kid}") is not a valid public key`, 'bad_bundle');
  }
}

function parseCertificate(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw invalidArgument(`${what} is not a DER X.509 certificate`, 'bad_bundle');
  }
}

function publicJwk(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' });
  return Object.fromEntries(KEY_PARAMS.filter((p) => jwk[p] !== undefined).map((p) => [p, jwk[p]]));
}

function optionalCount(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgument(`"${field}" must be an integer`, 'bad_bundle');
  checkCount(field, value);
  return value;
}

function checkCount(what: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw invalidArgument(`bundle ${what} must be a non-negative integer below 2^53, got ${value}`, 'bad_bundle');
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
