import { randomBytes, type KeyObject } from 'node:crypto';
import type { TrustDomain } from '../spiffeid.js';
import { keyAlgorithmOf, subjectKeyIdentifier, toCryptoKey, webCryptoSigningAlgorithm } from './keys.js';
import { x509 } from './peculiar.js';

export interface CaIssuer {
  certificate: x509.X509Certificate;
  privateKey: KeyObject;
}

export interface CaCertificateRequest {
  /** Distinguished name, e.g. "O=meshid, CN=meshid root". */
  subject: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Adds the trust domain's SPIFFE ID (no path) as URI SAN. */
  trustDomain?: TrustDomain;
  pathLength?: number;
  /** Omitted: self-signed, and `selfSigningKey` must be the private half of `publicKey`. */
  issuer?: CaIssuer;
  selfSigningKey?: KeyObject;
}

/**
 * Serials are cut from CSPRNG output drawn this many bytes at a time: a randomBytes call per leaf cost more
 * than the rest of the serial's handling.
 */
const SERIAL_POOL_BYTES = 4096;
let serialPool = Buffer.alloc(0);
let serialPoolOffset = 0;

/** Random positive serial of 128 bits (top bit cleared so DER needs no sign padding). */
export function randomSerial(bytes = 16): Buffer {
  if (serialPoolOffset + bytes > serialPool.length) {
    serialPool = randomBytes(Math.max(SERIAL_POOL_BYTES, bytes));
    serialPoolOffset = 0;
  }
  const serial = Buffer.from(serialPool.subarray(serialPoolOffset, serialPoolOffset + bytes));
  serialPoolOffset += bytes;
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

export function randomSerialHex(bytes = 16): string {
  return randomSerial(bytes).toString('hex');
}

/** Builds a signing (cA=true) certificate: a root when self-signed, an intermediate otherwise. */
export async function createCaCertificate(req: CaCertificateRequest): Promise<x509.X509Certificate> {
  const signingKey = req.issuer?.privateKey ?? req.selfSigningKey;
  if (!signingKey) throw new Error('createCaCertificate: a self-signed certificate needs selfSigningKey');
  const spki = req.publicKey.export({ format: 'der', type: 'spki' });
  const ski = subjectKeyIdentifier(spki);
  const aki = req.issuer ? issuerKeyId(req.issuer.certificate) : ski;

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, req.pathLength, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    new x509.SubjectKeyIdentifierExtension(ski.toString('hex')),
    new x509.AuthorityKeyIdentifierExtension(aki.toString('hex')),
  ];
  if (req.trustDomain) {
    extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'url', value: req.trustDomain.id }], false));
  }

  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: req.subject,
    issuer: req.issuer ? req.issuer.certificate.subject : req.subject,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: await toCryptoKey(req.publicKey, 'verify'),
    signingKey: await toCryptoKey(signingKey, 'sign'),
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(signingKey)),
    extensions,
  });
}

/**
 * The key identifier a child's AKI must carry: the issuer's own SKI extension when it has one (certificates
 * from Vault, OpenSSL or cert-manager may use another derivation), else RFC 5280 method 1 over its key.
 */
export function issuerKeyId(issuer: x509.X509Certificate): Buffer {
  const ext = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ext) return Buffer.from(ext.keyId, 'hex');
  return subjectKeyIdentifier(new Uint8Array(issuer.publicKey.rawData));
}
