import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { TrustDomain } from '../../core/spiffeid.js';
import { createCaCertificate } from '../../core/x509/ca-cert.js';
import {
  contextTag,
  encodeBitString,
  encodeOid,
  encodeSequence,
  encodeTlv,
  TAG,
} from '../../core/x509/der.js';
import { generateKeyPair, type KeyAlgorithm, type KeyPair } from '../../core/x509/keys.js';
import { OID } from '../../core/x509/oids.js';
import type { x509 } from '../../core/x509/peculiar.js';

export const TRUST_DOMAIN = TrustDomain.parse('example.org');

export interface TestCa {
  root: { certificate: x509.X509Certificate; privateKey: KeyObject };
  intermediate: { certificate: x509.X509Certificate; privateKey: KeyObject };
}

/** A root and an intermediate signing CA, both of `alg`, built with the production CA-certificate code. */
export async function createTestCa(alg: KeyAlgorithm, notAfter = new Date(Date.now() + 365 * 86400_000)): Promise<TestCa> {
  const notBefore = new Date(Date.now() - 60_000);
  const rootKeys = generateKeyPair(alg);
  const rootCert = await createCaCertificate({
    subject: 'O=meshid test, CN=root',
    publicKey: rootKeys.publicKey,
    selfSigningKey: rootKeys.privateKey,
    notBefore,
    notAfter,
    trustDomain: TRUST_DOMAIN,
  });
  const interKeys = generateKeyPair(alg);
  const interCert = await createCaCertificate({
    subject: 'O=meshid test, CN=intermediate',
    publicKey: interKeys.publicKey,
    issuer: { certificate: rootCert, privateKey: rootKeys.privateKey },
    notBefore,
    notAfter,
    trustDomain: TRUST_DOMAIN,
    pathLength: 0,
  });
  return {
    root: { certificate: rootCert, privateKey: rootKeys.privateKey },
    intermediate: { certificate: interCert, privateKey: interKeys.privateKey },
  };
}

export const certDer = (cert: x509.X509Certificate) => Buffer.from(cert.rawData);

/** A PEM block of any label (certificates, CSRs, deliberately mislabelled input). */
export { pemBlock as toPem } from '../../core/x509/pem.js';

/** Key pairs node:crypto can make but WebCrypto cannot (unsupported curves, EdDSA, small RSA). */
export function nodeKeyPair(kind: 'secp256k1' | 'P-521' | 'ed25519' | 'rsa-1024'): KeyPair {
  if (kind === 'ed25519') return generateKeyPairSync('ed25519');
  if (kind === 'rsa-1024') return generateKeyPairSync('rsa', { modulusLength: 1024 });
  return generateKeyPairSync('ec', { namedCurve: kind });
}

export interface RawCsrOptions {
  keys: KeyPair;
  /** DER Extension elements (e.g. `new x509.SubjectAlternativeNameExtension(...).rawData`). */
  extensions?: Uint8Array[];
  /** Default: ECDSA/RSA with the hash that fits the key; EdDSA signs without a digest. */
  signatureAlgorithmOid?: string;
  hash?: string | null;
  /** Signs with this key instead of `keys.privateKey` (no proof of possession). */
  signingKey?: KeyObject;
  /** Replaces the subjectPublicKeyInfo (malformed-key cases). */
  spkiDer?: Uint8Array;
}

/**
 * Builds a PKCS#10 request byte by byte, so tests can produce requests no well-behaved library would:
 * unsupported keys, CA or keyCertSign requests, foreign signatures.
 */
export function buildRawCsr(opts: RawCsrOptions): Buffer {
  const spki = opts.spkiDer ?? opts.keys.publicKey.export({ format: 'der', type: 'spki' });
  const attributes = opts.extensions?.length
    ? encodeSequence(encodeOid(OID.extensionRequest), encodeTlv(TAG.SET, encodeSequence(...opts.extensions)))
    : Buffer.alloc(0);
  const info = encodeSequence(
    encodeTlv(TAG.INTEGER, Uint8Array.of(0)),
    encodeSequence(),
    spki,
    encodeTlv(contextTag(0, true), attributes),
  );
  const { oid, hash } = defaultSignatureAlgorithm(opts);
  const signature = sign(hash, info, opts.signingKey ?? opts.keys.privateKey);
  const algorithm = oid.startsWith('1.2.840.113549') ? encodeSequence(encodeOid(oid), encodeTlv(TAG.NULL)) : encodeSequence(encodeOid(oid));
  return encodeSequence(info, algorithm, encodeBitString(signature));
}

function defaultSignatureAlgorithm(opts: RawCsrOptions): { oid: string; hash: string | null } {
  const key = opts.keys.privateKey;
  const type = key.asymmetricKeyType;
  if (opts.signatureAlgorithmOid) return { oid: opts.signatureAlgorithmOid, hash: opts.hash ?? null };
  if (type === 'ed25519') return { oid: '1.3.101.112', hash: null };
  if (type === 'rsa') return { oid: OID.sha256WithRsa, hash: 'sha256' };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return { oid: OID.ecdsaWithSha384, hash: 'sha384' };
  if (curve === 'secp521r1') return { oid: OID.ecdsaWithSha512, hash: 'sha512' };
  return { oid: OID.ecdsaWithSha256, hash: 'sha256' };
}
