/**
 * The reference reading of a CSR for the differential target, built without meshid's DER reader:
 * @peculiar/x509 (asn1js underneath) parses and verifies the signature, node:crypto (OpenSSL) imports the
 * public key. What the reference says about a request is then checked against meshid's leaf profile here,
 * independently of core/x509/csr.ts.
 */
import { createPublicKey, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { BasicConstraints, ExtendedKeyUsage, Extensions, KeyUsage, SubjectAlternativeName, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { encodeOid, encodeSequence, encodeTlv } from '../../core/x509/der.js';
import { OID } from '../../core/x509/oids.js';
import { x509 } from '../../core/x509/peculiar.js';
import { children, inside, type Node } from './der-walk.js';
import { isDer } from './der-strict.js';

export interface ReferenceCsr {
  spkiDer: Buffer;
  /** node:crypto's view of the key: "ec-P-256", "rsa-2048", "ed25519", ...; null if OpenSSL refuses it. */
  key: string | null;
  /** DER of the key AlgorithmIdentifier's parameters, if any. */
  keyParameters: Buffer | undefined;
  /** First octet of the subjectPublicKey BIT STRING (0x04: uncompressed EC point). */
  pointFormat: number | undefined;
  rsaExponentOdd: boolean | undefined;
  /** RSAPublicKey modulus and exponent are positive INTEGERs; undefined when not DER or not RSA. */
  rsaIntegersPositive: boolean | undefined;
  signatureAlgorithm: string;
  signatureValid: boolean;
  /** The signature is a DER Ecdsa-Sig-Value with positive r and s (RFC 3279 2.2.3). */
  ecdsaSignatureDer: boolean;
  uriSans: string[];
  dnsSans: string[];
  /** Requested extensions in order (duplicates kept). */
  extensionIds: string[];
  extensionRequestAttributes: number;
  extensionRequestValues: number;
  keyUsageFlags?: number;
  extKeyUsages?: string[];
  ca?: boolean;
  /** CertificationRequestInfo.version (RFC 2986: 0). */
  version: number;
  /**
   * Strict-DER facts (der-strict.ts, and the reference's own re-encoding) for the request and each part
   * meshid parses; undefined fields were not computable because the outer request is not DER.
   */
  der: boolean;
  singleTlv: boolean | undefined;
  signatureUnusedBits: number | undefined;
  keyUnusedBits: number | undefined;
}

/** The reference's reading of `der`, or the error that stopped it. */
export async function referenceCsr(der: Buffer): Promise<ReferenceCsr | { error: string }> {
  return read(der, (csr) => csr.verify());
}

const DER_NULL = Buffer.of(0x05, 0x00);
const EXTENSION_REQUEST = encodeOid(OID.extensionRequest);
const SAN = encodeOid(OID.subjectAltName);
const RSA_SIGNATURES = [OID.sha256WithRsa, OID.sha384WithRsa, OID.sha512WithRsa].map(encodeOid);
const READ_EXTENSIONS = [SAN, encodeOid(OID.keyUsage), encodeOid(OID.extKeyUsage), encodeOid(OID.basicConstraints)];
const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

/**
 * The reference's reading of the parts meshid reads, for a request meshid accepted (so `der` has the shape
 * its reader walked). meshid skips without parsing: the subject (the identity comes from attestation),
 * attributes other than extensionRequest, extensions other than SAN, key usage, EKU and basic constraints
 * (the CA decides what a leaf carries), GeneralNames other than dNSName and URI (the CA only takes
 * those), and the signature algorithm's parameters (only its OID is read). They are replaced by an empty
 * Name, dropped or set to what RFC 4055 / RFC 5758 prescribe before the reference reads the request; the
 * signature is still checked over the original signed bytes.
 */
export async function referenceCsrOfReadParts(der: Buffer): Promise<ReferenceCsr | { error: string }> {
  const whole = (n: Node) => der.subarray(n.start, n.end);
  const readExtension = (ext: Node): Buffer[] => {
    const fields = inside(der, ext); // extnID, critical?, extnValue
    const id = whole(fields[0]!);
    if (!READ_EXTENSIONS.some((oid) => oid.equals(id))) return [];
    if (!id.equals(SAN)) return [whole(ext)];
    const names = inside(der, inside(der, fields.at(-1)!)[0]!).filter((n) => der[n.start] === 0x82 || der[n.start] === 0x86);
    return [encodeSequence(...fields.slice(0, -1).map(whole), encodeTlv(0x04, encodeSequence(...names.map(whole))))];
  };
  const extensionRequest = (attribute: Node) => {
    const [type, values] = inside(der, attribute);
    const extensions = inside(der, values!).map((list) => encodeSequence(...inside(der, list).flatMap(readExtension)));
    return encodeSequence(whole(type!), encodeTlv(0x31, ...extensions));
  };

  const [info, algorithm, signature] = inside(der, children(der)[0]!);
  const [version, , spki, attributes] = inside(der, info!);
  const requests = attributes && inside(der, attributes).filter((a) => whole(inside(der, a)[0]!).equals(EXTENSION_REQUEST)).map(extensionRequest);
  const readInfo = encodeSequence(whole(version!), encodeSequence(), whole(spki!), ...(requests ? [encodeTlv(0xa0, ...requests)] : []));
  const signedInfo = whole(info!);
  const signatureBits = der.subarray(signature!.contentStart + 1, signature!.end);
  const [algorithmOid] = inside(der, algorithm!);
  const readAlgorithm = encodeSequence(whole(algorithmOid!), ...(RSA_SIGNATURES.some((oid) => oid.equals(whole(algorithmOid!))) ? [DER_NULL] : []));
  return read(encodeSequence(readInfo, readAlgorithm, whole(signature!)), async (_csr, decoded) => {
    const hash = SIGNATURE_HASH[decoded.signatureAlgorithm];
    if (!hash) return false;
    return verify(hash, signedInfo, createPublicKey({ key: decoded.spkiDer, format: 'der', type: 'spki' }), signatureBits);
  });
}

type Verifier = (csr: x509.Pkcs10CertificateRequest, decoded: Omit<ReferenceCsr, 'signatureValid'>) => Promise<boolean>;

async function read(der: Buffer, verifySignature: Verifier): Promise<ReferenceCsr | { error: string }> {
  let csr: x509.Pkcs10CertificateRequest;
  let decoded: Omit<ReferenceCsr, 'signatureValid'>;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    decoded = decode(csr, der);
  } catch (err) {
    return { error: String(err) };
  }
  let signatureValid: boolean;
  try {
    signatureValid = await verifySignature(csr, decoded);
  } catch {
    signatureValid = false;
  }
  return { ...decoded, signatureValid };
}

function decode(csr: x509.Pkcs10CertificateRequest, der: Buffer): Omit<ReferenceCsr, 'signatureValid'> {
  const asn = AsnConvert.parse(der, CertificationRequest); // the same parse, with the fields x509 keeps protected
  const spkiDer = Buffer.from(csr.publicKey.rawData);
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  const point = new Uint8Array(spki.subjectPublicKey);
  const extensionAttributes = csr.attributes.filter((a) => a.type === OID.extensionRequest);
  const extensions = csr.extensions;
  const outerDer = isDer(der);
  const top = outerDer ? children(der) : undefined;
  // request -> [info, signatureAlgorithm, signature]; info -> [version, subject, spki, attributes]; spki -> [algorithm, key]
  const parts = top?.length === 1 ? inside(der, top[0]!) : undefined;
  const spkiNode = parts?.[0] && inside(der, parts[0])[2];
  const keyBits = spkiNode && inside(der, spkiNode)[1];
  const result: Omit<ReferenceCsr, 'signatureValid'> = {
    spkiDer,
    key: nodeKey(spkiDer),
    // the schema reads NULL as null and absent as undefined
    keyParameters: spki.algorithm.parameters === null ? DER_NULL : spki.algorithm.parameters && Buffer.from(spki.algorithm.parameters),
    pointFormat: point[0],
    rsaExponentOdd: rsaExponentOdd(spkiDer),
    rsaIntegersPositive: spki.algorithm.algorithm === OID.rsaEncryption ? positiveIntegers(point) : undefined,
    signatureAlgorithm: asn.signatureAlgorithm.algorithm,
    ecdsaSignatureDer: positiveIntegers(new Uint8Array(asn.signature)) === true,
    uriSans: [],
    dnsSans: [],
    extensionIds: extensions.map((e) => e.type),
    extensionRequestAttributes: extensionAttributes.length,
    extensionRequestValues: extensionAttributes[0]?.values.length ?? 0,
    version: asn.certificationRequestInfo.version,
    // attribute values are ANY to the outer schema: re-encode the Extensions too (the reference reads a
    // wrongly tagged one as if it were a SEQUENCE)
    der:
      outerDer &&
      reencodes(der, CertificationRequest) &&
      extensionAttributes.every((a) => a.values.every((v) => reencodes(Buffer.from(v), Extensions))) &&
      (spki.algorithm.algorithm !== OID.rsaEncryption || isDer(point)),
    singleTlv: top ? top.length === 1 : undefined,
    signatureUnusedBits: parts?.[2] ? der[parts[2].contentStart] : undefined,
    keyUnusedBits: keyBits ? der[keyBits.contentStart] : undefined,
  };
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.type)) continue; // duplicates: reported through extensionIds
    seen.add(ext.type);
    const value = Buffer.from(ext.value);
    switch (ext.type) {
      case OID.subjectAltName:
        for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
          if (name.uniformResourceIdentifier !== undefined) result.uriSans.push(name.uniformResourceIdentifier);
          if (name.dNSName !== undefined) result.dnsSans.push(name.dNSName);
        }
        break;
      case OID.keyUsage:
        result.keyUsageFlags = new x509.KeyUsagesExtension(ext.rawData).usages;
        result.der &&= reencodes(value, KeyUsage);
        break;
      case OID.extKeyUsage:
        result.extKeyUsages = AsnConvert.parse(value, ExtendedKeyUsage).map(String);
        result.der &&= reencodes(value, ExtendedKeyUsage);
        break;
      case OID.basicConstraints:
        result.ca = AsnConvert.parse(value, BasicConstraints).cA;
        result.der &&= reencodes(value, BasicConstraints);
        break;
    }
    // the reference re-encodes SANs through IP-address text, which fails on odd lengths, and reads any
    // outer tag as GeneralNames: DER and tag checks only
    if (ext.type === OID.subjectAltName) result.der &&= value[0] === 0x30;
    if (([OID.subjectAltName, OID.keyUsage, OID.extKeyUsage, OID.basicConstraints] as string[]).includes(ext.type)) {
      result.der &&= isDer(value) && children(value).length === 1;
    }
  }
  return result;
}

/** Whether parsing `bytes` as `type` and serialising again gives the same bytes (DER is unique). */
function reencodes(bytes: Buffer, type: Parameters<typeof AsnConvert.parse>[1]): boolean {
  try {
    return Buffer.from(AsnConvert.serialize(AsnConvert.parse(bytes, type))).equals(bytes);
  } catch {
    return false;
  }
}

/** DER SEQUENCE { INTEGER, INTEGER } with both positive (ECDSA signature, RSA public key); undefined if not DER. */
function positiveIntegers(der: Uint8Array): boolean | undefined {
  if (!isDer(der)) return undefined;
  const top = children(der);
  if (top.length !== 1 || der[0] !== 0x30) return false;
  const integers = inside(der, top[0]!);
  return integers.length === 2 && integers.every((n) => der[n.start] === 0x02 && !(der[n.contentStart]! & 0x80));
}

function nodeKey(spkiDer: Buffer): string | null {
  try {
    const key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
    const d = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === 'ec') return `ec-${d.namedCurve}`;
    if (key.asymmetricKeyType === 'rsa') return `rsa-${d.modulusLength}`;
    return key.asymmetricKeyType ?? 'unknown';
  } catch {
    return null;
  }
}

function rsaExponentOdd(spkiDer: Buffer): boolean | undefined {
  try {
    const jwk = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }).export({ format: 'jwk' });
    if (jwk.kty !== 'RSA' || !jwk.e) return undefined;
    const e = Buffer.from(jwk.e, 'base64url');
    return (e.at(-1)! & 1) === 1 && !(e.length === 1 && e[0]! < 3);
  } catch {
    return undefined;
  }
}

const SUPPORTED_KEYS = new Set(['ec-prime256v1', 'ec-secp384r1', 'rsa-2048', 'rsa-3072', 'rsa-4096']);
const SIGNATURE_KEY_TYPE: Readonly<Record<string, 'ec' | 'rsa'>> = {
  [OID.ecdsaWithSha256]: 'ec',
  [OID.ecdsaWithSha384]: 'ec',
  [OID.ecdsaWithSha512]: 'ec',
  [OID.sha256WithRsa]: 'rsa',
  [OID.sha384WithRsa]: 'rsa',
  [OID.sha512WithRsa]: 'rsa',
};
const LEAF_KEY_USAGES = 0b1_0101; // digitalSignature | keyEncipherment | keyAgreement (bit n = 1 << n)
const LEAF_EKUS: readonly string[] = [OID.serverAuth, OID.clientAuth];
const ALL_REASONS = ['csr_malformed', 'csr_unsupported_key', 'csr_unsupported_signature_algorithm', 'csr_bad_signature', 'csr_requests_ca', 'csr_key_usage', 'csr_multiple_uri_sans'];
const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);

export interface Rejections {
  /** Rules meshid documents and must enforce: a request breaking any of them must be refused. */
  must: Set<string>;
  /**
   * Where meshid is deliberately stricter than the lenient reference: strict DER (X.690; RFC 2986 signs the
   * DER encoding), so no BER forms and no elements beyond the ASN.1 definition. On such input meshid may
   * refuse for whatever its strict reading finds first, or accept when the oddity sits in a part it does
   * not read; its reading of an accepted request is still compared field by field.
   */
  may: Set<string>;
}

/** The reasons meshid may give for refusing what the reference read; both sets empty: it must accept. */
export function expectedRejections(ref: ReferenceCsr): Rejections {
  const must = new Set<string>();
  const may = new Set<string>();
  // Not DER: meshid may refuse it as malformed, or for whatever its strict reading of it finds first.
  if (!ref.der) for (const reason of ALL_REASONS) may.add(reason);

  // Framing: one request, version 0 (RFC 2986), signature and key BIT STRINGs without unused bits.
  if (ref.singleTlv === false || ref.version !== 0 || (ref.signatureUnusedBits ?? 0) !== 0 || (ref.keyUnusedBits ?? 0) !== 0) must.add('csr_malformed');
  // RFC 5280 4.2: an extension appears at most once; PKCS#9 extensionRequest is single-valued. The
  // reference silently takes the first one.
  if (new Set(ref.extensionIds).size !== ref.extensionIds.length) must.add('csr_malformed');
  if (ref.extensionRequestAttributes > 1 || (ref.extensionRequestAttributes === 1 && ref.extensionRequestValues !== 1)) must.add('csr_malformed');
  // URI and DNS SANs are IA5String; meshid also refuses control characters (they would reach logs and certificates).
  if (![...ref.uriSans, ...ref.dnsSans].every(printable)) must.add('csr_malformed');

  // The leaf profile (PROTOCOLS.md, X509-SVID).
  if (ref.ca) must.add('csr_requests_ca');
  if ((ref.keyUsageFlags ?? 0) & ~LEAF_KEY_USAGES) must.add('csr_key_usage');
  if (ref.extKeyUsages?.some((u) => !LEAF_EKUS.includes(u))) must.add('csr_key_usage');
  if (ref.uriSans.length > 1) must.add('csr_multiple_uri_sans');

  // OpenSSL refuses the key: meshid says so as malformed, or as unsupported when the algorithm or curve already is.
  if (ref.key === null) must.add('csr_malformed').add('csr_unsupported_key');
  else if (!SUPPORTED_KEYS.has(ref.key)) must.add('csr_unsupported_key');
  const rsa = ref.key?.startsWith('rsa-') ?? false;
  const ec = ref.key?.startsWith('ec-') ?? false;
  if (rsa && !ref.keyParameters?.equals(DER_NULL)) must.add('csr_malformed'); // RFC 3279 2.3.1: parameters MUST be NULL
  if (rsa && ref.rsaIntegersPositive === false) must.add('csr_malformed'); // RFC 3279 2.3.1: modulus and exponent are positive
  if (rsa && ref.rsaExponentOdd === false) must.add('csr_unsupported_key');
  if (ec && ref.keyParameters?.[0] !== 0x06) must.add('csr_unsupported_key'); // RFC 5480 2.1.1: named curves only
  if (ec && ref.pointFormat !== 0x04) must.add('csr_unsupported_key'); // compressed points: not every SVID consumer takes them

  const keyType = SIGNATURE_KEY_TYPE[ref.signatureAlgorithm];
  if (!keyType) must.add('csr_unsupported_signature_algorithm');
  else if (ref.key !== null && !ref.key.startsWith(keyType)) must.add('csr_bad_signature');
  if (!ref.signatureValid) must.add('csr_bad_signature');
  // The reference converts ECDSA signatures leniently (any outer tag, trailing bytes); OpenSSL, and so
  // meshid, verifies only the DER Ecdsa-Sig-Value.
  if (keyType === 'ec' && !ref.ecdsaSignatureDer) must.add('csr_bad_signature');
  return { must, may };
}
