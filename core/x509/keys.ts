import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, type webcrypto } from 'node:crypto';
import { invalidArgument } from '../errors.js';

export const KEY_ALGORITHMS = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'ec-p256';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function parseKeyAlgorithm(value: string): KeyAlgorithm {
  if ((KEY_ALGORITHMS as readonly string[]).includes(value)) return value as KeyAlgorithm;
  throw invalidArgument(`unknown key algorithm "${value}" (expected one of ${KEY_ALGORITHMS.join(', ')})`);
}

export function generateKeyPair(alg: KeyAlgorithm = DEFAULT_KEY_ALGORITHM): KeyPair {
  switch (alg) {
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return generateKeyPairSync('rsa', { modulusLength: Number(alg.slice(4)) });
  }
}

/** The algorithm a key object is, for choosing signature algorithms. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve === 'prime256v1') return 'ec-p256';
    if (d.namedCurve === 'secp384r1') return 'ec-p384';
    throw invalidArgument(`unsupported EC curve ${d.namedCurve ?? 'unknown'} (use P-256 or P-384)`, 'unsupported_key');
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}` as KeyAlgorithm;
    throw invalidArgument(`unsupported RSA key size ${bits} (use 2048, 3072 or 4096 bits)`, 'unsupported_key');
  }
  throw invalidArgument(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`, 'unsupported_key');
}

/** node:crypto digest used when this key signs (P-384 pairs with SHA-384, everything else SHA-256). */
export function signatureDigest(alg: KeyAlgorithm): 'sha256' | 'sha384' {
  return alg === 'ec-p384' ? 'sha384' : 'sha256';
}

/** WebCrypto parameters for @peculiar/x509 (non-hot paths: CA certificates, CSRs in tests). */
export function webCryptoParams(alg: KeyAlgorithm): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams {
  if (alg === 'ec-p256') return { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyImportParams;
  if (alg === 'ec-p384') return { name: 'ECDSA', namedCurve: 'P-384' } as webcrypto.EcKeyImportParams;
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

export function webCryptoSigningAlgorithm(alg: KeyAlgorithm): webcrypto.EcdsaParams | webcrypto.Algorithm {
  if (alg.startsWith('ec-')) return { name: 'ECDSA', hash: signatureDigest(alg) === 'sha384' ? 'SHA-384' : 'SHA-256' };
  return { name: 'RSASSA-PKCS1-v1_5' };
}

/** Converts a node:crypto key to a WebCrypto key usable by @peculiar/x509. */
export async function toCryptoKey(key: KeyObject, usage: 'sign' | 'verify'): Promise<webcrypto.CryptoKey> {
  const alg = webCryptoParams(keyAlgorithmOf(key));
  if (key.type === 'private') {
    return globalThis.crypto.subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), alg, true, [usage]);
  }
  return globalThis.crypto.subtle.importKey('spki', key.export({ format: 'der', type: 'spki' }), alg, true, [usage]);
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey({ key: pem, format: 'pem' });
}

/** PKCS#8 DER, the form the Workload API and go-spiffe expect. */
export function privateKeyToPkcs8Der(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'pkcs8' });
}

/**
 * RFC 5280 4.2.1.2 method 1: SHA-1 over the subjectPublicKey BIT STRING contents (not the whole SPKI).
 * Reads the BIT STRING out of the SPKI DER, skipping its unused-bits octet.
 */
export function subjectKeyIdentifier(spkiDer: Uint8Array): Buffer {
  const bits = spkiSubjectPublicKeyBits(spkiDer);
  return createHash('sha1').update(bits).digest();
}

function spkiSubjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  // SEQUENCE { AlgorithmIdentifier SEQUENCE, BIT STRING }
  let [, off] = readHeader(spki, 0, 0x30);
  const [algLen, algOff] = readHeader(spki, off, 0x30);
  off = algOff + algLen;
  const [bitLen, bitOff] = readHeader(spki, off, 0x03);
  return spki.subarray(bitOff + 1, bitOff + bitLen);
}

function readHeader(der: Uint8Array, off: number, tag: number): [length: number, contentOffset: number] {
  if (der[off] !== tag) throw invalidArgument('malformed SubjectPublicKeyInfo', 'bad_key');
  let len = der[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[p++]!;
  }
  return [len, p];
}
