import { createHash, createPublicKey, X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import { MeshidError } from '../errors.js';
import { x509 } from './peculiar.js';
import { dersToPem, pemToDers } from './pem.js';

/** Concatenated PEM, one certificate per block, newline-terminated. */
export function certificatesToPem(certs: x509.X509Certificate[]): string {
  return dersToPem(certs.map((c) => new Uint8Array(c.rawData)));
}

/** Parses concatenated PEM certificates; `what` names the source in the error. */
export function certificatesFromPem(pem: string, what: string): x509.X509Certificate[] {
  try {
    const certs = pemToDers(pem).map((der) => new x509.X509Certificate(der));
    if (certs.length > 0) return certs;
  } catch {
    // reported below
  }
  throw new MeshidError('FAILED_PRECONDITION', `${what} does not hold valid PEM certificates`, 'bad_certificate');
}

export const toDer = (cert: x509.X509Certificate): Buffer => Buffer.from(cert.rawData);

/** SHA-256 of the certificate's DER, hex: how bundles and acknowledgements name a root. */
export function fingerprint(cert: x509.X509Certificate): string {
  return createHash('sha256').update(toDer(cert)).digest('hex');
}

const spki = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });

const publicHalf = (key: KeyObject): KeyObject => (key.type === 'private' ? createPublicKey(key) : key);

/** Whether two keys (public, or private ones standing for their public half) are the same key. */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return spki(publicHalf(a)).equals(spki(publicHalf(b)));
}

/** The public key a certificate carries, as a node:crypto KeyObject. */
export const certificateKey = (cert: x509.X509Certificate): KeyObject => new NodeCertificate(toDer(cert)).publicKey;

/**
 * Checks a signing-CA chain (intermediate first, roots excluded) from an upstream: every certificate is a CA
 * signed by the next, the last is signed by one of `roots`, and the first carries `publicKey` when given.
 * Returns the root that anchors it.
 */
export function verifyCaChain(
  chain: x509.X509Certificate[],
  roots: x509.X509Certificate[],
  what: string,
  publicKey?: KeyObject,
): x509.X509Certificate {
  const fail = (why: string) => new MeshidError('FAILED_PRECONDITION', `${what}: ${why}`, 'bad_ca_chain');
  if (chain.length === 0) throw fail('the chain is empty');
  if (roots.length === 0) throw fail('no upstream roots');
  const nodeChain = chain.map((c) => new NodeCertificate(toDer(c)));
  if (publicKey && !samePublicKey(nodeChain[0]!.publicKey, publicKey)) {
    throw fail('the signing certificate does not carry the signing key');
  }
  nodeChain.forEach((cert, i) => {
    if (!cert.ca) throw fail(`certificate ${i} (${cert.subject.replace(/\n/g, ', ')}) is not a CA`);
    const issuer = nodeChain[i + 1];
    if (issuer && !(cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) {
      throw fail(`certificate ${i} is not signed by certificate ${i + 1}`);
    }
  });
  const last = nodeChain.at(-1)!;
  const root = roots.find((r) => {
    const nodeRoot = new NodeCertificate(toDer(r));
    return last.checkIssued(nodeRoot) && last.verify(nodeRoot.publicKey);
  });
  if (!root) throw fail('the chain does not lead to any of the upstream roots');
  return root;
}
