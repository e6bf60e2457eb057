import { sign, type KeyObject } from 'node:crypto';
import type { SpiffeId } from '../spiffeid.js';
import { contextTag, encodeBitString, encodeOid, encodeSequence, encodeTlv, TAG } from './der.js';
import { extensionDer, signatureAlgorithmDer, subjectAltNamesDer } from './encode.js';
import { keyAlgorithmOf, signatureDigest } from './keys.js';
import { OID } from './oids.js';
import { x509 } from './peculiar.js';
import { pemBlock } from './pem.js';

const VERSION_1 = encodeTlv(TAG.INTEGER, Uint8Array.of(0));
const EMPTY_NAME = encodeSequence();
const EMPTY_ATTRIBUTES = encodeTlv(contextTag(0, true));
const EXTENSION_REQUEST_OID = encodeOid(OID.extensionRequest);
const SAN_OID = encodeOid(OID.subjectAltName);

/**
 * Builds a PEM PKCS#10 CSR for a locally generated key: agents make one per workload identity and rotation,
 * so it is encoded directly and signed with node:crypto (WebCrypto through @peculiar/x509 cost 4-5 ms of
 * event-loop time per request). The identity is decided by attestation; SANs here are informational.
 */
export function createCsrPem(options: {
  privateKey: KeyObject;
  publicKey: KeyObject;
  spiffeId?: SpiffeId;
  dnsNames?: string[];
  /** Distinguished name, e.g. "O=meshid"; empty by default. */
  subject?: string;
}): string {
  const alg = keyAlgorithmOf(options.privateKey);
  const spki = options.publicKey.export({ format: 'der', type: 'spki' });
  const dnsNames = options.dnsNames ?? [];
  const attributes =
    options.spiffeId || dnsNames.length
      ? encodeTlv(
          contextTag(0, true),
          encodeSequence(
            EXTENSION_REQUEST_OID,
            encodeTlv(TAG.SET, encodeSequence(extensionDer(SAN_OID, false, subjectAltNamesDer(options.spiffeId?.toString(), dnsNames)))),
          ),
        )
      : EMPTY_ATTRIBUTES;
  const subject = options.subject ? Buffer.from(new x509.Name(options.subject).toArrayBuffer()) : EMPTY_NAME;
  const info = encodeSequence(VERSION_1, subject, spki, attributes);
  const signature = sign(signatureDigest(alg), info, options.privateKey);
  const der = encodeSequence(info, signatureAlgorithmDer(alg), encodeBitString(signature));
  return pemBlock('CERTIFICATE REQUEST', der);
}
