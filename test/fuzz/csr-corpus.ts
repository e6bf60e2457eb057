/**
 * Seed CSRs for the CSR differential target: valid requests from the three encoders that produce CSRs here
 * (meshid's own createCsrPem, the byte-level test builder, @peculiar/x509's generator), over every key type
 * the CA meets, with and without SANs and extensions, including requests the CA must refuse (CA, key
 * usages, two URI SANs, unsupported keys). Mutations start from these.
 */
import type { KeyObject, webcrypto } from 'node:crypto';
import { SpiffeId } from '../../core/spiffeid.js';
import { createCsrPem } from '../../core/x509/csr-request.js';
import { generateKeyPair, signatureDigest, type KeyAlgorithm, type KeyPair } from '../../core/x509/keys.js';
import { KEY_USAGE_BIT, OID, type KeyUsageName } from '../../core/x509/oids.js';
import { x509 } from '../../core/x509/peculiar.js';
import { buildRawCsr, nodeKeyPair } from '../x509/fixtures.js';

export interface SeedCsr {
  label: string;
  der: Buffer;
  /** The key that signed it and the digest (null for EdDSA), so a mutated request body can be re-signed. */
  privateKey: KeyObject;
  hash: string | null;
}

const ID = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');
const raw = (e: x509.Extension) => new Uint8Array(e.rawData);
const san = (names: x509.JsonGeneralName[], critical = false) => new x509.SubjectAlternativeNameExtension(names, critical);
const keyUsage = (usages: KeyUsageName[]) => new x509.KeyUsagesExtension(usages.reduce((f, u) => f | (1 << KEY_USAGE_BIT[u]), 0), true);
const eku = (oids: string[]) => new x509.ExtendedKeyUsageExtension(oids);
const basicConstraints = (ca: boolean) => new x509.BasicConstraintsExtension(ca, undefined, true);
/** An extension the CA does not read: its value must still be well-formed for the reference to accept it. */
const unknownExtension = (critical: boolean) => new x509.Extension('1.3.6.1.4.1.99999.1', critical, Uint8Array.of(0x04, 0x02, 0x68, 0x69));

const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

async function webCryptoPair(keys: KeyPair, algorithm: webcrypto.EcKeyImportParams | webcrypto.Algorithm): Promise<webcrypto.CryptoKeyPair> {
  const subtle = globalThis.crypto.subtle;
  return {
    privateKey: await subtle.importKey('pkcs8', keys.privateKey.export({ format: 'der', type: 'pkcs8' }), algorithm, true, ['sign']),
    publicKey: await subtle.importKey('spki', keys.publicKey.export({ format: 'der', type: 'spki' }), algorithm, true, ['verify']),
  };
}

/** About 25 seeds; RSA keys are generated once each (2048 for the accepted path, 1024 for the refused one). */
export async function buildSeedCsrs(): Promise<SeedCsr[]> {
  const p256 = generateKeyPair('ec-p256');
  const p384 = generateKeyPair('ec-p384');
  const rsa = generateKeyPair('rsa-2048');
  const ed25519 = nodeKeyPair('ed25519');
  const seeds: SeedCsr[] = [];
  const add = (label: string, der: Buffer, privateKey: KeyObject, hash: string | null) => seeds.push({ label, der, privateKey, hash });
  /** `hash` must be the digest buildRawCsr picks for the key, or the one of `extra.signatureAlgorithmOid`. */
  const rawCsr = (label: string, keys: KeyPair, hash: string | null, extensions: x509.Extension[], extra: Partial<Parameters<typeof buildRawCsr>[0]> = {}) =>
    add(label, buildRawCsr({ keys, extensions: extensions.map(raw), hash, ...extra }), extra.signingKey ?? keys.privateKey, hash);
  const agentCsr = (label: string, alg: KeyAlgorithm, keys: KeyPair, options: Omit<Parameters<typeof createCsrPem>[0], keyof KeyPair>) =>
    add(label, pemToDer(createCsrPem({ ...keys, ...options })), keys.privateKey, signatureDigest(alg));

  // meshid's agent-side encoder
  agentCsr('createCsrPem p256 uri+dns', 'ec-p256', p256, { spiffeId: ID, dnsNames: ['web.default.svc', 'web'] });
  agentCsr('createCsrPem p384 uri', 'ec-p384', p384, { spiffeId: ID });
  agentCsr('createCsrPem rsa2048 dns', 'rsa-2048', rsa, { dnsNames: ['db.example.org'] });
  agentCsr('createCsrPem p256 bare', 'ec-p256', p256, {});
  agentCsr('createCsrPem p256 subject', 'ec-p256', p256, { spiffeId: ID, subject: 'O=meshid, CN=web' });

  // byte-level builder: every extension the CA reads, plus ones it ignores or refuses
  const allSans: x509.JsonGeneralName[] = [
    { type: 'url', value: ID.toString() },
    { type: 'dns', value: 'web.example.org' },
    { type: 'email', value: 'ops@example.org' },
    { type: 'ip', value: '10.1.2.3' },
  ];
  rawCsr('raw p256 full leaf', p256, 'sha256', [san(allSans), keyUsage(['digitalSignature', 'keyEncipherment']), eku([OID.serverAuth, OID.clientAuth]), basicConstraints(false)]);
  rawCsr('raw p256 critical san + unknown ext', p256, 'sha256', [san([{ type: 'url', value: ID.toString() }], true), unknownExtension(true)]);
  rawCsr('raw p256 keyAgreement', p256, 'sha256', [keyUsage(['keyAgreement']), unknownExtension(false)]);
  rawCsr('raw p256 ca', p256, 'sha256', [basicConstraints(true)]);
  rawCsr('raw p256 keyCertSign', p256, 'sha256', [keyUsage(['digitalSignature', 'keyCertSign'])]);
  rawCsr('raw p256 codeSigning', p256, 'sha256', [eku([OID.serverAuth, '1.3.6.1.5.5.7.3.3'])]);
  rawCsr('raw p256 two uris', p256, 'sha256', [san([{ type: 'url', value: ID.toString() }, { type: 'url', value: 'spiffe://example.org/other' }])]);
  rawCsr('raw p256 no attributes', p256, 'sha256', []);
  rawCsr('raw p384 sha512', p384, 'sha512', [san([{ type: 'dns', value: 'a.example' }])], { signatureAlgorithmOid: OID.ecdsaWithSha512 });
  rawCsr('raw p256 sha384', p256, 'sha384', [san([{ type: 'url', value: ID.toString() }])], { signatureAlgorithmOid: OID.ecdsaWithSha384 });
  rawCsr('raw rsa sha384', rsa, 'sha384', [san([{ type: 'url', value: ID.toString() }]), keyUsage(['digitalSignature'])], { signatureAlgorithmOid: OID.sha384WithRsa });
  rawCsr('raw ed25519', ed25519, null, [san([{ type: 'url', value: ID.toString() }])]);
  rawCsr('raw p521', nodeKeyPair('P-521'), 'sha512', []);
  rawCsr('raw secp256k1', nodeKeyPair('secp256k1'), 'sha256', []);
  rawCsr('raw rsa1024', nodeKeyPair('rsa-1024'), 'sha256', []);
  rawCsr('raw p256 foreign signature', p256, 'sha256', [], { signingKey: generateKeyPair('ec-p256').privateKey });

  // @peculiar/x509's generator: subject names, non-extension attributes
  const ecdsa256 = await webCryptoPair(p256, { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyImportParams);
  const ecdsa384 = await webCryptoPair(p384, { name: 'ECDSA', namedCurve: 'P-384' } as webcrypto.EcKeyImportParams);
  const generated = async (label: string, keys: KeyPair, hash: string, params: x509.Pkcs10CertificateRequestCreateParams) =>
    add(label, Buffer.from((await x509.Pkcs10CertificateRequestGenerator.create(params)).rawData), keys.privateKey, hash);
  await generated('peculiar p256 subject + challengePassword', p256, 'sha256', {
    name: 'CN=web, O=meshid, C=DE',
    keys: ecdsa256,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [san([{ type: 'url', value: ID.toString() }, { type: 'dns', value: 'web' }])],
    attributes: [new x509.ChallengePasswordAttribute('s3cret')],
  });
  await generated('peculiar p384 eku only', p384, 'sha384', {
    name: 'CN=db',
    keys: ecdsa384,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [eku([OID.clientAuth])],
  });
  return seeds;
}
