import { contextTag, encodeBoolean, encodeOctetString, encodeOid, encodeSequence, encodeTlv, TAG } from './der.js';
import type { KeyAlgorithm } from './keys.js';
import { OID } from './oids.js';

/** DER pieces shared by every certificate and request meshid encodes on its fast paths. */

/** AlgorithmIdentifier of the signature a key makes (digest as keys.ts signatureDigest picks it). */
export function signatureAlgorithmDer(alg: KeyAlgorithm): Buffer {
  if (alg === 'ec-p256') return encodeSequence(encodeOid(OID.ecdsaWithSha256));
  if (alg === 'ec-p384') return encodeSequence(encodeOid(OID.ecdsaWithSha384));
  return encodeSequence(encodeOid(OID.sha256WithRsa), encodeTlv(TAG.NULL));
}

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }. */
export function extensionDer(oidDer: Buffer, critical: boolean, valueDer: Buffer): Buffer {
  return critical
    ? encodeSequence(oidDer, encodeBoolean(true), encodeOctetString(valueDer))
    : encodeSequence(oidDer, encodeOctetString(valueDer));
}

const URI_TAG = contextTag(6, false);
const DNS_TAG = contextTag(2, false);

/** GeneralNames with the URI SAN (if any) first, then DNS names: the subjectAltName extension value. */
export function subjectAltNamesDer(spiffeId: string | undefined, dnsNames: readonly string[] = []): Buffer {
  const names = spiffeId === undefined ? [] : [encodeTlv(URI_TAG, Buffer.from(spiffeId, 'latin1'))];
  for (const dns of dnsNames) names.push(encodeTlv(DNS_TAG, Buffer.from(dns, 'latin1')));
  return encodeSequence(...names);
}
