import type { KeyObject } from 'node:crypto';
import { MeshidError } from '../../core/errors.js';
import { keyAlgorithmOf, subjectKeyIdentifier, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { certificateKey, certificatesFromPem, fingerprint, samePublicKey, toDer, verifyCaChain } from '../../core/x509/chain.js';

/** What the issuance layer signs with. */
export interface SigningAuthority {
  /** Journal id: hex SKI of the signing key. */
  id: string;
  certificate: x509.X509Certificate;
  certificateDer: Buffer;
  /** DER chain, the signing certificate first, roots excluded: append to every leaf. */
  chainDer: Buffer[];
  privateKey: KeyObject;
  notAfter: Date;
  keyAlgorithm: KeyAlgorithm;
}

export interface TrustBundle {
  roots: x509.X509Certificate[];
}

/** A journal record with its certificates parsed and its chain checked (no key). */
export interface JournalAuthority {
  record: AuthorityRecord;
  chain: x509.X509Certificate[];
  roots: x509.X509Certificate[];
  /** The root among `roots` that the chain leads to. */
  anchor: x509.X509Certificate;
}

export function parseJournalRecord(record: AuthorityRecord): JournalAuthority {
  const what = `journal authority ${record.id}`;
  if (!record.upstreamRootsPem) {
    throw new MeshidError('FAILED_PRECONDITION', `${what} has no upstream roots recorded`, 'bad_certificate');
  }
  const chain = certificatesFromPem(record.certificatePem, `${what} certificate`);
  const roots = certificatesFromPem(record.upstreamRootsPem, `${what} upstream roots`);
  return { record, chain, roots, anchor: verifyCaChain(chain, roots, what) };
}

/** Pairs a journal authority with its key, checking the key belongs to the certificate. */
export function toSigningAuthority(authority: JournalAuthority, privateKey: KeyObject): SigningAuthority {
  const certificate = authority.chain[0]!;
  if (!samePublicKey(privateKey, certificateKey(certificate))) {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `the key file of journal authority ${authority.record.id} does not match its certificate`,
      'key_mismatch',
    );
  }
  return {
    id: authority.record.id,
    certificate,
    certificateDer: toDer(certificate),
    chainDer: authority.chain.map(toDer),
    privateKey,
    notAfter: certificate.notAfter,
    keyAlgorithm: keyAlgorithmOf(privateKey),
  };
}

/** Journal ID of a certificate's key: hex SKI (RFC 5280 method 1), whoever issued the certificate. */
export function authorityId(cert: x509.X509Certificate): string {
  return subjectKeyIdentifier(new Uint8Array(cert.publicKey.rawData)).toString('hex');
}

/** Roots of every authority given, each once, in first-seen order. */
export function collectRoots(authorities: JournalAuthority[]): x509.X509Certificate[] {
  const seen = new Map<string, x509.X509Certificate>();
  for (const a of authorities) for (const r of a.roots) if (!seen.has(fingerprint(r))) seen.set(fingerprint(r), r);
  return [...seen.values()];
}
