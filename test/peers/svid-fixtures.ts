// Throwaway SPIFFE authorities and X509-SVIDs for the peer wire tests (ECDSA P-256, made at runtime).
import { createCaCertificate, randomSerialHex } from '../../core/x509/ca-cert.js';
import { generateKeyPair, toCryptoKey, type KeyPair } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { TrustDomain } from '../../core/spiffeid.js';

export interface Authority {
  certificate: x509.X509Certificate;
  privateKey: KeyPair['privateKey'];
}

export interface LeafSvid {
  certificate: x509.X509Certificate;
  keys: KeyPair;
}

const HOUR = 3_600_000;

async function newAuthority(trustDomain: TrustDomain, subject: string, issuer?: Authority): Promise<Authority> {
  const keys = generateKeyPair();
  const now = Date.now();
  const certificate = await createCaCertificate({
    subject,
    publicKey: keys.publicKey,
    ...(issuer ? { issuer } : { selfSigningKey: keys.privateKey }),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + HOUR),
    trustDomain,
  });
  return { certificate, privateKey: keys.privateKey };
}

export function newRootAuthority(trustDomain: TrustDomain, subject = 'O=meshid test, CN=root'): Promise<Authority> {
  return newAuthority(trustDomain, subject);
}

export function newIntermediateAuthority(root: Authority, trustDomain: TrustDomain): Promise<Authority> {
  return newAuthority(trustDomain, 'O=meshid test, CN=intermediate', root);
}

/** A leaf X509-SVID for `spiffeId` (single URI SAN, not a CA, digitalSignature) signed by `issuer`. */
export async function issueLeafSvid(issuer: Authority, spiffeId: string, ttlMs = 10 * 60_000): Promise<LeafSvid> {
  const keys = generateKeyPair();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: 'O=meshid test',
    issuer: issuer.certificate.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + ttlMs),
    publicKey: await toCryptoKey(keys.publicKey, 'verify'),
    signingKey: await toCryptoKey(issuer.privateKey, 'sign'),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true),
    ],
  });
  return { certificate, keys };
}

/** Go's big.Int Text(16) of a certificate serial (no leading zeros). */
export function serialAsGoHex(certificate: x509.X509Certificate): string {
  return BigInt(`0x${certificate.serialNumber}`).toString(16);
}
