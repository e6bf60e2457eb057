import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { invalidArgument, MeshidError } from '../errors.js';
import { SpiffeId } from '../spiffeid.js';
import { issuerKeyId, randomSerial } from './ca-cert.js';
import {
  contents,
  contextTag,
  decodeOid,
  DerError,
  DerReader,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeTime,
  encodeTlv,
  encodeUnsignedInteger,
  TAG,
  whole,
} from './der.js';
import { extensionDer as extension, signatureAlgorithmDer, subjectAltNamesDer } from './encode.js';
import { keyAlgorithmOf, signatureDigest, subjectKeyIdentifier } from './keys.js';
import { KEY_USAGE_BIT, OID, type KeyUsageName } from './oids.js';
import { x509 } from './peculiar.js';

export interface LeafSignerOptions {
  /** The signing CA's certificate (DER). Its subject becomes the leaf's issuer, byte for byte. */
  issuerCertDer: Uint8Array;
  issuerKey: KeyObject;
  /** Optional distinguished name, e.g. "O=meshid". Default: empty subject with a critical SAN. */
  subject?: string;
}

export interface LeafRequest {
  spkiDer: Uint8Array;
  spiffeId: string;
  dnsNames?: string[];
  notBefore: Date;
  notAfter: Date;
  /** Positive serial, big-endian. Default: 128 random bits. */
  serial?: Uint8Array;
}

export interface IssuedLeaf {
  der: Buffer;
  /** Lowercase hex of the serial's magnitude, for logs and revocation records. */
  serialHex: string;
}

export interface LeafSigner {
  /** Signs one X509-SVID leaf. */
  sign(req: LeafRequest): IssuedLeaf;
}

/** EKU of every leaf: an SVID is used on both ends of mTLS. */
export const LEAF_EXT_KEY_USAGES = [OID.serverAuth, OID.clientAuth] as const;

/**
 * Key usage by subject key type. keyEncipherment only means something for RSA (TLS 1.2 RSA key transport)
 * and keyAgreement only for EC (ECDH), so each leaf gets digitalSignature plus the one that fits its key.
 */
export function leafKeyUsages(keyType: 'ec' | 'rsa'): KeyUsageName[] {
  return keyType === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature', 'keyAgreement'];
}

const VERSION_V3 = encodeTlv(contextTag(0, true), encodeTlv(TAG.INTEGER, Uint8Array.of(2)));
const EMPTY_NAME = encodeSequence();
const SKI_OID = encodeOid(OID.subjectKeyIdentifier);
const SAN_OID = encodeOid(OID.subjectAltName);
const BASIC_CONSTRAINTS_LEAF = extension(encodeOid(OID.basicConstraints), true, encodeSequence());
const EXT_KEY_USAGE = extension(encodeOid(OID.extKeyUsage), false, encodeSequence(...LEAF_EXT_KEY_USAGES.map(encodeOid)));
const KEY_USAGE = {
  ec: keyUsageExtension(leafKeyUsages('ec')),
  rsa: keyUsageExtension(leafKeyUsages('rsa')),
};

/**
 * The issuance fast path: everything constant is encoded once here, each `sign` encodes only serial,
 * validity, key, SKI and SAN, then signs with node:crypto. test/x509/leaf-reference.ts builds the same
 * certificate with @peculiar/x509, and a test holds the two to byte-identical TBSCertificates.
 */
export function createLeafSigner(options: LeafSignerOptions): LeafSigner {
  const issuer = new x509.X509Certificate(options.issuerCertDer);
  checkIssuer(issuer, options);
  const issuerAlgorithm = keyAlgorithmOf(options.issuerKey);
  const digest = signatureDigest(issuerAlgorithm);
  const signatureAlgorithm = signatureAlgorithmDer(issuerAlgorithm);
  const issuerName = certificateSubjectDer(options.issuerCertDer);
  const subject = options.subject ? Buffer.from(new x509.Name(options.subject).toArrayBuffer()) : EMPTY_NAME;
  const sanCritical = subject === EMPTY_NAME;
  const authorityKeyId = extension(
    encodeOid(OID.authorityKeyIdentifier),
    false,
    encodeSequence(encodeTlv(contextTag(0, false), issuerKeyId(issuer))),
  );
  const issuerKey = options.issuerKey;

  return {
    sign(req: LeafRequest): IssuedLeaf {
      checkLeafRequest(req);
      const serial = req.serial ?? randomSerial();
      const keyType = subjectKeyType(req.spkiDer);
      const extensions = encodeSequence(
        BASIC_CONSTRAINTS_LEAF,
        KEY_USAGE[keyType],
        EXT_KEY_USAGE,
        extension(SKI_OID, false, encodeOctetString(subjectKeyIdentifier(req.spkiDer))),
        authorityKeyId,
        extension(SAN_OID, sanCritical, subjectAltNamesDer(req.spiffeId, req.dnsNames)),
      );
      const tbs = encodeSequence(
        VERSION_V3,
        encodeUnsignedInteger(serial),
        signatureAlgorithm,
        issuerName,
        encodeSequence(encodeTime(req.notBefore), encodeTime(req.notAfter)),
        subject,
        req.spkiDer,
        encodeTlv(contextTag(3, true), extensions),
      );
      const signature = cryptoSign(digest, tbs, issuerKey);
      return {
        der: encodeSequence(tbs, signatureAlgorithm, encodeBitString(signature)),
        serialHex: serialHex(serial),
      };
    },
  };
}

export interface LeafValidityInput {
  now: Date;
  requestedTtlSeconds: number;
  maxTtlSeconds: number;
  issuerNotAfter: Date;
  backdateSeconds?: number;
}

/**
 * notBefore = now - backdate (clock skew between peers); notAfter = min(now + requested, issuer notAfter).
 * Whole seconds, as certificates carry them. A request above the maximum is refused, not capped.
 */
/** notBefore is this far in the past, for peers whose clocks run slightly behind. */
export const LEAF_BACKDATE_SECONDS = 10;

export function leafValidity(input: LeafValidityInput): { notBefore: Date; notAfter: Date } {
  const { now, requestedTtlSeconds: ttl, maxTtlSeconds: max, backdateSeconds = LEAF_BACKDATE_SECONDS } = input;
  if (!Number.isFinite(ttl) || ttl <= 0) {
    throw invalidArgument(`requested validity must be a positive number of seconds, got ${ttl}`, 'bad_ttl');
  }
  if (ttl > max) throw invalidArgument(`requested validity ${ttl}s exceeds the maximum of ${max}s`, 'bad_ttl');
  const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  const notAfter = second(Math.min(now.getTime() + ttl * 1000, input.issuerNotAfter.getTime()));
  if (notAfter.getTime() <= now.getTime()) {
    throw new MeshidError('FAILED_PRECONDITION', 'the signing CA certificate has expired', 'issuer_expired');
  }
  return { notBefore: second(now.getTime() - backdateSeconds * 1000), notAfter };
}

/** Validates what both the fast and the reference path put into a leaf. */
export function checkLeafRequest(req: LeafRequest): void {
  if (SpiffeId.parse(req.spiffeId).path === '') {
    throw invalidArgument(`leaf SVID needs a SPIFFE ID with a path, got "${req.spiffeId}"`, 'bad_spiffe_id');
  }
  for (const dns of req.dnsNames ?? []) {
    if (dns.length > 253 || !DNS_NAME.test(dns)) throw invalidArgument(`invalid DNS SAN "${dns.slice(0, 253)}"`, 'bad_dns_name');
  }
  const nb = req.notBefore.getTime();
  const na = req.notAfter.getTime();
  if (!Number.isFinite(nb) || !Number.isFinite(na) || na <= nb) {
    throw invalidArgument('leaf validity must have notBefore before notAfter', 'bad_ttl');
  }
  if (req.serial && (req.serial.length === 0 || req.serial.length > 20 || req.serial.every((b) => b === 0))) {
    throw invalidArgument('serial must be 1 to 20 bytes and not zero', 'bad_serial');
  }
}

const DNS_NAME = /^(\*\.)?[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$/;

/** Hex of a serial as X509Certificate parsers print it: no leading zero bytes. */
function serialHex(serial: Uint8Array): string {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return Buffer.from(serial.subarray(i)).toString('hex');
}

/** KeyUsage BIT STRING in DER: named bits, trailing zero bits dropped. */
function keyUsageExtension(usages: KeyUsageName[]): Buffer {
  const bits = usages.map((u) => KEY_USAGE_BIT[u]);
  const bytes = new Uint8Array((Math.max(...bits) >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const last = bytes[bytes.length - 1]!;
  const unused = 31 - Math.clz32(last & -last);
  return extension(encodeOid(OID.keyUsage), true, encodeBitString(bytes, unused));
}

function subjectKeyType(spkiDer: Uint8Array): 'ec' | 'rsa' {
  let keyOid: string;
  try {
    const outer = new DerReader(spkiDer);
    const spki = DerReader.within(spkiDer, outer.next(TAG.SEQUENCE));
    outer.expectDone();
    keyOid = decodeOid(contents(spkiDer, DerReader.within(spkiDer, spki.next(TAG.SEQUENCE)).next(TAG.OID)));
  } catch (err) {
    if (err instanceof DerError) throw invalidArgument(`subject public key is malformed: ${err.message}`, 'bad_key');
    throw err;
  }
  if (keyOid === OID.ecPublicKey) return 'ec';
  if (keyOid === OID.rsaEncryption) return 'rsa';
  throw invalidArgument(`unsupported subject key algorithm ${keyOid}`, 'bad_key');
}

/** The subject Name of a certificate, exactly as encoded there. */
export function certificateSubjectDer(certDer: Uint8Array): Buffer {
  const cert = DerReader.within(certDer, new DerReader(certDer).next(TAG.SEQUENCE));
  const tbs = DerReader.within(certDer, cert.next(TAG.SEQUENCE));
  tbs.optional(contextTag(0, true)); // version
  tbs.next(TAG.INTEGER); // serial
  tbs.next(TAG.SEQUENCE); // signature algorithm
  tbs.next(TAG.SEQUENCE); // issuer
  tbs.next(TAG.SEQUENCE); // validity
  return Buffer.from(whole(certDer, tbs.next(TAG.SEQUENCE)));
}

function checkIssuer(issuer: x509.X509Certificate, options: LeafSignerOptions): void {
  const fail = (message: string) => new MeshidError('FAILED_PRECONDITION', message, 'bad_issuer');
  if (!issuer.getExtension(x509.BasicConstraintsExtension)?.ca) throw fail('the signing certificate is not a CA (cA=false)');
  const usages = issuer.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
  if (!(usages & x509.KeyUsageFlags.keyCertSign)) throw fail('the signing certificate lacks keyCertSign');
  const keySpki = createPublicKey(options.issuerKey).export({ format: 'der', type: 'spki' });
  if (!keySpki.equals(Buffer.from(issuer.publicKey.rawData))) {
    throw fail('the signing key does not match the signing certificate');
  }
}

