import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { invalidArgument } from '../errors.js';
import type { SpiffeId } from '../spiffeid.js';
import {
  contents,
  contextTag,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  DerError,
  DerReader,
  TAG,
  whole,
  type Tlv,
} from './der.js';
import type { KeyAlgorithm } from './keys.js';
import { CURVE_OID_NAMES, KEY_OID_NAMES, KEY_USAGE_BIT, OID, type KeyUsageName } from './oids.js';

/** Largest CSR text accepted, checked before any parsing. */
export const MAX_CSR_BYTES = 64 * 1024;

/** Key usages a leaf SVID may carry; a CSR asking for any other is rejected. */
const ALLOWED_KEY_USAGES: ReadonlySet<KeyUsageName> = new Set(['digitalSignature', 'keyEncipherment', 'keyAgreement']);
const ALLOWED_EXT_KEY_USAGES: ReadonlySet<string> = new Set([OID.serverAuth, OID.clientAuth]);

/** A CSR that passed every check: well-formed, supported key, proof of possession, leaf-only requests. */
export interface ParsedCsr {
  spkiDer: Buffer;
  publicKey: KeyObject;
  keyAlgorithm: KeyAlgorithm;
  uriSans: string[];
  dnsSans: string[];
}

/** What a CSR's DER says, before any policy or cryptography. */
export interface DecodedCsr {
  /** CertificationRequestInfo: the signed bytes. */
  infoDer: Buffer;
  spkiDer: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  uriSans: string[];
  dnsSans: string[];
  /** Requested extensions, undefined when the CSR does not carry them. */
  basicConstraintsCa?: boolean;
  keyUsages?: KeyUsageName[];
  extKeyUsages?: string[];
}

const SIGNATURE_ALGORITHMS: Readonly<Record<string, { name: string; hash: string; key: 'ec' | 'rsa' }>> = {
  [OID.ecdsaWithSha256]: { name: 'ecdsa-with-SHA256', hash: 'sha256', key: 'ec' },
  [OID.ecdsaWithSha384]: { name: 'ecdsa-with-SHA384', hash: 'sha384', key: 'ec' },
  [OID.ecdsaWithSha512]: { name: 'ecdsa-with-SHA512', hash: 'sha512', key: 'ec' },
  [OID.sha256WithRsa]: { name: 'sha256WithRSAEncryption', hash: 'sha256', key: 'rsa' },
  [OID.sha384WithRsa]: { name: 'sha384WithRSAEncryption', hash: 'sha384', key: 'rsa' },
  [OID.sha512WithRsa]: { name: 'sha512WithRSAEncryption', hash: 'sha512', key: 'rsa' },
};

/**
 * Parses and validates a PEM CSR for a leaf SVID. Every failure is INVALID_ARGUMENT with a reason label:
 * csr_too_large, csr_bad_pem, csr_not_a_csr, csr_malformed, csr_unsupported_key,
 * csr_unsupported_signature_algorithm, csr_bad_signature, csr_requests_ca, csr_key_usage, csr_multiple_uri_sans.
 * The proof-of-possession signature is verified on libuv's thread pool; the event loop decodes and imports the key.
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  const csr = decodeCsrDer(pemToDer(pem));
  checkLeafRequest(csr);
  const key = importPublicKey(csr.spkiDer);
  await verifyProofOfPossession(csr, key);
  return { spkiDer: csr.spkiDer, ...key, uriSans: csr.uriSans, dnsSans: csr.dnsSans };
}

/**
 * The identity always comes from attestation: a CSR may omit the URI SAN, but one that names another
 * SPIFFE ID is rejected rather than silently replaced.
 */
export function checkCsrIdentity(csr: Pick<ParsedCsr, 'uriSans'>, spiffeId: SpiffeId | string): void {
  const attested = String(spiffeId);
  if (csr.uriSans.length > 1) throw tooManyUriSans(csr.uriSans.length);
  const requested = csr.uriSans[0];
  if (requested !== undefined && requested !== attested) {
    throw invalidArgument(
      `CSR asks for URI SAN ${quote(requested)} but the caller is attested as ${quote(attested)}; ` +
        'leave the URI SAN out or request the attested SPIFFE ID',
      'csr_identity_mismatch',
    );
  }
}

function pemToDer(pem: string): Buffer {
  if (typeof pem !== 'string') throw invalidArgument('CSR must be PEM text', 'csr_bad_pem');
  if (pem.length > MAX_CSR_BYTES || Buffer.byteLength(pem, 'utf8') > MAX_CSR_BYTES) {
    throw invalidArgument(`CSR is larger than ${MAX_CSR_BYTES} bytes`, 'csr_too_large');
  }
  const text = pem.trim();
  const begin = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  if (!begin) throw invalidArgument('CSR is not PEM: it must start with a "-----BEGIN ...-----" line', 'csr_bad_pem');
  const label = begin[1]!;
  if (label !== 'CERTIFICATE REQUEST' && label !== 'NEW CERTIFICATE REQUEST') {
    throw invalidArgument(`expected a PEM "CERTIFICATE REQUEST" block, got "${label}"`, 'csr_not_a_csr');
  }
  const endLine = `-----END ${label}-----`;
  if (!text.endsWith(endLine) || text.indexOf('-----', begin[0].length) !== text.length - endLine.length) {
    throw invalidArgument(`CSR PEM must be exactly one block ending with "${endLine}"`, 'csr_bad_pem');
  }
  const body = text.slice(begin[0].length, text.length - endLine.length).replace(/\s+/g, '');
  if (body.length === 0 || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw invalidArgument('CSR PEM body is not valid base64', 'csr_bad_pem');
  }
  return Buffer.from(body, 'base64');
}

/** Reads a PKCS#10 CertificationRequest (RFC 2986) with the fast DER reader. */
export function decodeCsrDer(der: Uint8Array): DecodedCsr {
  try {
    return decodeCertificationRequest(der);
  } catch (err) {
    if (err instanceof DerError) throw invalidArgument(`CSR is not a valid PKCS#10 request: ${err.message}`, 'csr_malformed');
    throw err;
  }
}

function decodeCertificationRequest(der: Uint8Array): DecodedCsr {
  const top = new DerReader(der);
  const request = top.next(TAG.SEQUENCE);
  top.expectDone();

  const r = DerReader.within(der, request);
  const info = r.next(TAG.SEQUENCE);
  const sigAlg = r.next(TAG.SEQUENCE);
  const sigBits = decodeBitString(der, r.next(TAG.BIT_STRING));
  r.expectDone();
  if (sigBits.unusedBits !== 0) throw new DerError('signature BIT STRING has unused bits');

  const i = DerReader.within(der, info);
  const version = i.next(TAG.INTEGER);
  if (version.end - version.contentStart !== 1 || der[version.contentStart] !== 0) {
    throw new DerError('unsupported version (expected v1)');
  }
  i.next(TAG.SEQUENCE); // subject: not used, the identity comes from attestation
  const spki = i.next(TAG.SEQUENCE);
  const attributes = i.optional(contextTag(0, true));
  i.expectDone();

  const a = DerReader.within(der, sigAlg);
  const signatureAlgorithm = decodeOid(contents(der, a.next(TAG.OID)));

  const csr: DecodedCsr = {
    infoDer: Buffer.from(whole(der, info)),
    spkiDer: Buffer.from(whole(der, spki)),
    signatureAlgorithm,
    signature: Buffer.from(sigBits.bytes),
    uriSans: [],
    dnsSans: [],
  };
  if (attributes) readRequestedExtensions(der, attributes, csr);
  return csr;
}

function readRequestedExtensions(der: Uint8Array, attributes: Tlv, csr: DecodedCsr): void {
  const attrs = DerReader.within(der, attributes);
  let seenExtensionRequest = false;
  while (!attrs.done) {
    const attr = DerReader.within(der, attrs.next(TAG.SEQUENCE));
    const type = decodeOid(contents(der, attr.next(TAG.OID)));
    const values = DerReader.within(der, attr.next(TAG.SET));
    attr.expectDone();
    if (type !== OID.extensionRequest) continue;
    if (seenExtensionRequest) throw new DerError('more than one extensionRequest attribute');
    seenExtensionRequest = true;
    const extensions = values.next(TAG.SEQUENCE);
    values.expectDone();
    readExtensions(der, extensions, csr);
  }
}

function readExtensions(der: Uint8Array, extensions: Tlv, csr: DecodedCsr): void {
  const seen = new Set<string>();
  const exts = DerReader.within(der, extensions);
  while (!exts.done) {
    const ext = DerReader.within(der, exts.next(TAG.SEQUENCE));
    const id = decodeOid(contents(der, ext.next(TAG.OID)));
    const critical = ext.optional(TAG.BOOLEAN);
    if (critical) decodeBoolean(der, critical);
    const value = ext.next(TAG.OCTET_STRING);
    ext.expectDone();
    if (seen.has(id)) throw new DerError(`extension ${id} appears twice`);
    seen.add(id);
    const inner = new DerReader(der, value.contentStart, value.end);
    switch (id) {
      case OID.subjectAltName:
        readSubjectAltNames(der, inner, csr);
        break;
      case OID.basicConstraints:
        csr.basicConstraintsCa = readBasicConstraintsCa(der, inner);
        break;
      case OID.keyUsage:
        csr.keyUsages = readKeyUsages(der, inner);
        break;
      case OID.extKeyUsage:
        csr.extKeyUsages = readOidSequence(der, inner);
        break;
      // other requested extensions are ignored: the CA decides what a leaf carries
    }
  }
}

const GENERAL_NAME_DNS = contextTag(2, false);
const GENERAL_NAME_URI = contextTag(6, false);

function readSubjectAltNames(der: Uint8Array, r: DerReader, csr: DecodedCsr): void {
  const names = DerReader.within(der, r.next(TAG.SEQUENCE));
  r.expectDone();
  while (!names.done) {
    const name = names.next();
    if (name.tag === GENERAL_NAME_URI) csr.uriSans.push(ia5String(der, name));
    else if (name.tag === GENERAL_NAME_DNS) csr.dnsSans.push(ia5String(der, name));
  }
}

function ia5String(der: Uint8Array, tlv: Tlv): string {
  const bytes = contents(der, tlv);
  for (const b of bytes) if (b > 0x7e || b < 0x20) throw new DerError('SAN is not a printable IA5String');
  return Buffer.from(bytes).toString('latin1');
}

function readBasicConstraintsCa(der: Uint8Array, r: DerReader): boolean {
  const seq = DerReader.within(der, r.next(TAG.SEQUENCE));
  r.expectDone();
  const ca = seq.optional(TAG.BOOLEAN);
  // RFC 5280: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }, nothing else
  seq.optional(TAG.INTEGER);
  seq.expectDone();
  return ca ? decodeBoolean(der, ca) : false;
}

function readKeyUsages(der: Uint8Array, r: DerReader): KeyUsageName[] {
  const { bytes } = decodeBitString(der, r.next(TAG.BIT_STRING));
  r.expectDone();
  const usages: KeyUsageName[] = [];
  for (const [name, bit] of Object.entries(KEY_USAGE_BIT) as [KeyUsageName, number][]) {
    if (bit >> 3 < bytes.length && bytes[bit >> 3]! & (0x80 >> (bit & 7))) usages.push(name);
  }
  return usages;
}

function readOidSequence(der: Uint8Array, r: DerReader): string[] {
  const seq = DerReader.within(der, r.next(TAG.SEQUENCE));
  r.expectDone();
  const oids: string[] = [];
  while (!seq.done) oids.push(decodeOid(contents(der, seq.next(TAG.OID))));
  return oids;
}

/** The leaf profile: no CA, no usages beyond the leaf's, at most one URI SAN. */
function checkLeafRequest(csr: DecodedCsr): void {
  if (csr.basicConstraintsCa) {
    throw invalidArgument('CSR requests a CA certificate (basicConstraints cA=true); SVIDs are leaves', 'csr_requests_ca');
  }
  const badUsages = (csr.keyUsages ?? []).filter((u) => !ALLOWED_KEY_USAGES.has(u));
  if (badUsages.length > 0) {
    throw invalidArgument(
      `CSR requests key usage ${badUsages.join(', ')}; a leaf SVID allows only digitalSignature, keyEncipherment and keyAgreement`,
      'csr_key_usage',
    );
  }
  const badEku = (csr.extKeyUsages ?? []).filter((u) => !ALLOWED_EXT_KEY_USAGES.has(u));
  if (badEku.length > 0) {
    throw invalidArgument(
      `CSR requests extended key usage ${badEku.join(', ')}; a leaf SVID allows only serverAuth and clientAuth`,
      'csr_key_usage',
    );
  }
  if (csr.uriSans.length > 1) throw tooManyUriSans(csr.uriSans.length);
}

const tooManyUriSans = (n: number) =>
  invalidArgument(`CSR has ${n} URI SANs; an SVID carries exactly one`, 'csr_multiple_uri_sans');

const CURVES: Readonly<Record<string, { alg: KeyAlgorithm; crv: string; coordinateBytes: number }>> = {
  [OID.p256]: { alg: 'ec-p256', crv: 'P-256', coordinateBytes: 32 },
  [OID.p384]: { alg: 'ec-p384', crv: 'P-384', coordinateBytes: 48 },
};
const RSA_SIZES = new Set([2048, 3072, 4096]);

/**
 * Reads the SPKI strictly and imports it through JWK: node:crypto's DER/SPKI decoder costs about twice
 * as much as the JWK path, and this runs once per issued SVID.
 */
function importPublicKey(spkiDer: Buffer): { publicKey: KeyObject; keyAlgorithm: KeyAlgorithm } {
  let parts: { keyOid: string; params: Tlv | undefined; curveOid: string | undefined; key: Uint8Array };
  try {
    const r = new DerReader(spkiDer);
    const spki = DerReader.within(spkiDer, r.next(TAG.SEQUENCE));
    const alg = DerReader.within(spkiDer, spki.next(TAG.SEQUENCE));
    const keyOid = decodeOid(contents(spkiDer, alg.next(TAG.OID)));
    const params = alg.done ? undefined : alg.next();
    alg.expectDone();
    // decoded here, inside the DerError mapping: a malformed curve OID is a malformed key, not an internal error
    const curveOid = params?.tag === TAG.OID ? decodeOid(contents(spkiDer, params)) : undefined;
    const bits = decodeBitString(spkiDer, spki.next(TAG.BIT_STRING));
    spki.expectDone();
    if (bits.unusedBits !== 0) throw new DerError('public key BIT STRING has unused bits');
    parts = { keyOid, params, curveOid, key: bits.bytes };
  } catch (err) {
    if (err instanceof DerError) throw invalidArgument(`CSR public key is malformed: ${err.message}`, 'csr_malformed');
    throw err;
  }
  if (parts.keyOid === OID.ecPublicKey) return importEcKey(parts.curveOid, parts.key);
  if (parts.keyOid === OID.rsaEncryption) return importRsaKey(parts.params, parts.key);
  const name = KEY_OID_NAMES[parts.keyOid] ?? parts.keyOid;
  throw invalidArgument(`unsupported CSR key type ${name} (use ECDSA P-256/P-384 or RSA >= 2048)`, 'csr_unsupported_key');
}

function importEcKey(curveOid: string | undefined, point: Uint8Array) {
  if (curveOid === undefined) {
    throw invalidArgument('CSR EC key must name its curve (explicit curve parameters are not supported)', 'csr_unsupported_key');
  }
  const curve = CURVES[curveOid];
  if (!curve) {
    const name = CURVE_OID_NAMES[curveOid] ?? curveOid;
    throw invalidArgument(`unsupported CSR EC curve ${name} (use P-256 or P-384)`, 'csr_unsupported_key');
  }
  const n = curve.coordinateBytes;
  if (point[0] !== 0x04 || point.length !== 1 + 2 * n) {
    throw invalidArgument(`CSR ${curve.crv} public key must be an uncompressed point`, 'csr_unsupported_key');
  }
  const jwk = {
    kty: 'EC',
    crv: curve.crv,
    x: Buffer.from(point.subarray(1, 1 + n)).toString('base64url'),
    y: Buffer.from(point.subarray(1 + n)).toString('base64url'),
  };
  return { publicKey: importJwk(jwk), keyAlgorithm: curve.alg };
}

function importRsaKey(params: Tlv | undefined, rsaPublicKey: Uint8Array) {
  if (!params || params.tag !== TAG.NULL || params.end !== params.contentStart) {
    throw invalidArgument('CSR RSA key algorithm must carry NULL parameters (RFC 3279)', 'csr_malformed');
  }
  let modulus: Uint8Array;
  let exponent: Uint8Array;
  try {
    const r = new DerReader(rsaPublicKey);
    const seq = DerReader.within(rsaPublicKey, r.next(TAG.SEQUENCE));
    r.expectDone();
    modulus = positiveInteger(rsaPublicKey, seq.next(TAG.INTEGER));
    exponent = positiveInteger(rsaPublicKey, seq.next(TAG.INTEGER));
    seq.expectDone();
  } catch (err) {
    if (err instanceof DerError) throw invalidArgument(`CSR RSA public key is malformed: ${err.message}`, 'csr_malformed');
    throw err;
  }
  const bits = (modulus.length - 1) * 8 + (32 - Math.clz32(modulus[0]!));
  if (bits < 2048) throw invalidArgument(`CSR RSA key has ${bits} bits; the minimum is 2048`, 'csr_unsupported_key');
  if (!RSA_SIZES.has(bits)) {
    throw invalidArgument(`unsupported CSR RSA key size ${bits} (use 2048, 3072 or 4096 bits)`, 'csr_unsupported_key');
  }
  if (!(exponent[exponent.length - 1]! & 1) || (exponent.length === 1 && exponent[0]! < 3)) {
    throw invalidArgument('CSR RSA public exponent must be odd and at least 3', 'csr_unsupported_key');
  }
  const jwk = {
    kty: 'RSA',
    n: Buffer.from(modulus).toString('base64url'),
    e: Buffer.from(exponent).toString('base64url'),
  };
  return { publicKey: importJwk(jwk), keyAlgorithm: `rsa-${bits}` as KeyAlgorithm };
}

/** Magnitude bytes of a positive, minimally encoded INTEGER. */
function positiveInteger(der: Uint8Array, tlv: Tlv): Uint8Array {
  const bytes = contents(der, tlv);
  if (bytes.length === 0 || bytes[0]! & 0x80) throw new DerError('INTEGER is not positive');
  if (bytes[0] === 0 && (bytes.length === 1 || !(bytes[1]! & 0x80))) throw new DerError('INTEGER is not minimal');
  return bytes[0] === 0 ? bytes.subarray(1) : bytes;
}

function importJwk(jwk: Record<string, string>): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw invalidArgument('CSR public key is not a valid key (point not on the curve or bad RSA parameters)', 'csr_malformed');
  }
}

async function verifyProofOfPossession(csr: DecodedCsr, key: { publicKey: KeyObject; keyAlgorithm: KeyAlgorithm }): Promise<void> {
  const alg = SIGNATURE_ALGORITHMS[csr.signatureAlgorithm];
  if (!alg) {
    throw invalidArgument(
      `unsupported CSR signature algorithm ${csr.signatureAlgorithm} (use ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512)`,
      'csr_unsupported_signature_algorithm',
    );
  }
  if (!key.keyAlgorithm.startsWith(alg.key)) {
    throw invalidArgument(`CSR is signed with ${alg.name} but carries a ${key.keyAlgorithm} key`, 'csr_bad_signature');
  }
  if (!(await verifiesSignature(alg.hash, csr.infoDer, key.publicKey, csr.signature))) {
    throw invalidArgument(
      'CSR signature does not verify: the request does not prove possession of the private key',
      'csr_bad_signature',
    );
  }
}

/** Verifications started and not finished: inline ones count until the end of their turn. */
let verifiesInFlight = 0;

/**
 * Verifies on libuv's thread pool (node:crypto's callback form) while other verifications are in flight, so
 * concurrent calls use every core; a lone call verifies inline, sparing it the ~100 µs hand-off to the pool
 * and back. A signature the library cannot read does not verify.
 */
function verifiesSignature(hash: string, data: Buffer, key: KeyObject, signature: Buffer): Promise<boolean> {
  if (verifiesInFlight === 0) {
    verifiesInFlight++;
    queueMicrotask(() => verifiesInFlight--); // calls arriving in this same turn go to the pool
    try {
      return Promise.resolve(cryptoVerify(hash, data, key, signature));
    } catch {
      return Promise.resolve(false);
    }
  }
  verifiesInFlight++;
  return new Promise((resolve) => {
    try {
      cryptoVerify(hash, data, key, signature, (err, ok) => {
        verifiesInFlight--;
        resolve(err === null && ok);
      });
    } catch {
      verifiesInFlight--;
      resolve(false);
    }
  });
}

/** Quotes client-supplied text for an error message, bounded so a huge SAN cannot flood logs. */
function quote(text: string): string {
  return JSON.stringify(text.length > 256 ? `${text.slice(0, 256)}...` : text);
}
