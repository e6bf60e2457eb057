import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import { issuerKeyId } from '../../core/x509/ca-cert.js';
import { generateKeyPair, keyAlgorithmOf, subjectKeyIdentifier, toCryptoKey, webCryptoSigningAlgorithm, type KeyAlgorithm, type KeyPair } from '../../core/x509/keys.js';
import { createLeafSigner, leafValidity } from '../../core/x509/leaf.js';
import { x509 } from '../../core/x509/peculiar.js';
import { certDer, createTestCa, TRUST_DOMAIN, type TestCa } from './fixtures.js';
import { checkX509SvidProfile } from './svid-profile.js';

const ID = 'spiffe://example.org/ns/default/sa/web';
const { digitalSignature, keyAgreement, keyCertSign, cRLSign } = x509.KeyUsageFlags;

let ca: TestCa;
let leafKeys: KeyPair;
beforeAll(async () => {
  ca = await createTestCa('ec-p256');
  leafKeys = generateKeyPair('ec-p256');
});

const chainOf = (leaf: Uint8Array) => [leaf, certDer(ca.intermediate.certificate)];
const roots = () => [certDer(ca.root.certificate)];

function fastLeaf(testCa: TestCa, keys: KeyPair): Buffer {
  const issuer = testCa.intermediate.certificate;
  const signer = createLeafSigner({ issuerCertDer: certDer(issuer), issuerKey: testCa.intermediate.privateKey });
  const validity = leafValidity({ now: new Date(), requestedTtlSeconds: 3600, maxTtlSeconds: 86400, issuerNotAfter: issuer.notAfter });
  return signer.sign({ spkiDer: keys.publicKey.export({ format: 'der', type: 'spki' }), spiffeId: ID, ...validity }).der;
}

interface LeafSpec {
  uris?: string[];
  sanCritical?: boolean;
  subject?: string;
  keyUsage?: { usages: number; critical: boolean } | null;
  ca?: boolean;
  eku?: string[] | null;
  serialHex?: string;
  notAfter?: Date;
  withAki?: boolean;
  signer?: KeyObject;
}

/** A leaf built with @peculiar/x509 from a spec: the good profile unless a field says otherwise. */
async function leaf(spec: LeafSpec = {}): Promise<Buffer> {
  const issuer = ca.intermediate.certificate;
  const spki = leafKeys.publicKey.export({ format: 'der', type: 'spki' });
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(spec.ca ?? false, undefined, true),
    new x509.SubjectKeyIdentifierExtension(subjectKeyIdentifier(spki).toString('hex')),
    new x509.SubjectAlternativeNameExtension(
      (spec.uris ?? [ID]).map((value) => ({ type: 'url' as const, value })),
      spec.sanCritical ?? true,
    ),
  ];
  const ku = spec.keyUsage === undefined ? { usages: digitalSignature | keyAgreement, critical: true } : spec.keyUsage;
  if (ku) extensions.push(new x509.KeyUsagesExtension(ku.usages, ku.critical));
  const eku = spec.eku === undefined ? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] : spec.eku;
  if (eku) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  if (spec.withAki ?? true) extensions.push(new x509.AuthorityKeyIdentifierExtension(issuerKeyId(issuer).toString('hex')));
  const signer = spec.signer ?? ca.intermediate.privateKey;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serialHex ?? '7f0102030405060708090a0b0c0d0e0f',
    subject: spec.subject,
    issuer: issuer.subjectName,
    notBefore: new Date(Date.now() - 10_000),
    notAfter: spec.notAfter ?? new Date(Date.now() + 3600_000),
    publicKey: spki,
    signingKey: await toCryptoKey(signer, 'sign'),
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(signer)),
    extensions,
  });
  return Buffer.from(cert.rawData);
}

describe('conforming chains', () => {
  for (const alg of ['ec-p256', 'ec-p384', 'rsa-2048'] as KeyAlgorithm[]) {
    it(`fast-path leaf from a ${alg} CA has no violations`, async () => {
      const testCa = await createTestCa(alg);
      const keys = generateKeyPair(alg);
      const chain = [fastLeaf(testCa, keys), certDer(testCa.intermediate.certificate)];
      expect(
        checkX509SvidProfile(chain, {
          expectedSpiffeId: ID,
          trustDomain: TRUST_DOMAIN,
          privateKey: keys.privateKey,
          roots: [certDer(testCa.root.certificate)],
          now: new Date(),
        }),
      ).toEqual([]);
    });
  }

  it('the default leaf of the violation cases conforms', async () => {
    expect(checkX509SvidProfile(chainOf(await leaf()), { roots: roots(), expectedSpiffeId: ID, privateKey: leafKeys.privateKey })).toEqual([]);
  });

  it('accepts the root at the end of the chain (Istio order) and a non-critical SAN with a subject', async () => {
    const chain = [await leaf({ subject: 'O=meshid', sanCritical: false }), certDer(ca.intermediate.certificate), certDer(ca.root.certificate)];
    expect(checkX509SvidProfile(chain, { roots: roots() })).toEqual([]);
  });
});

describe('violations', () => {
  const cases: [string, LeafSpec, RegExp][] = [
    ['two URI SANs', { uris: [ID, 'spiffe://example.org/other'] }, /exactly one URI SAN, has 2/],
    ['no URI SAN', { uris: [] }, /exactly one URI SAN, has 0/],
    ['a non-SPIFFE URI', { uris: ['https://example.org/x'] }, /not a valid SPIFFE ID/],
    ['a root SPIFFE ID on a leaf', { uris: ['spiffe://example.org'] }, /must have a path/],
    ['non-critical SAN with empty subject', { sanCritical: false }, /SAN extension must be critical/],
    ['missing key usage', { keyUsage: null }, /key usage extension is missing/],
    ['non-critical key usage', { keyUsage: { usages: digitalSignature, critical: false } }, /key usage must be critical/],
    ['no digitalSignature', { keyUsage: { usages: keyAgreement, critical: true } }, /must include digitalSignature/],
    ['keyCertSign on a leaf', { keyUsage: { usages: digitalSignature | keyCertSign, critical: true } }, /must not include keyCertSign/],
    ['cRLSign on a leaf', { keyUsage: { usages: digitalSignature | cRLSign, critical: true } }, /must not include keyCertSign or cRLSign/],
    ['cA=true on a leaf', { ca: true }, /cA=false/],
    ['serverAuth only', { eku: ['1.3.6.1.5.5.7.3.1'] }, /both serverAuth and clientAuth/],
    ['a 32-bit serial', { serialHex: '01020304' }, /at least 64 bits, has 32/],
    ['notAfter beyond the issuer', { notAfter: new Date(Date.now() + 3 * 365 * 86400_000) }, /later than the issuer/],
    ['missing AKI', { withAki: false }, /authority key identifier is missing/],
  ];
  for (const [name, spec, message] of cases) {
    it(name, async () => {
      const violations = checkX509SvidProfile(chainOf(await leaf(spec)));
      expect(violations.some((v) => message.test(v)), violations.join('\n')).toBe(true);
    });
  }

  it('a chain link signed by another key', async () => {
    const violations = checkX509SvidProfile(chainOf(await leaf({ signer: generateKeyPair('ec-p256').privateKey })));
    expect(violations).toContain('leaf: is not issued and signed by the next certificate in the chain');
  });

  it('the wrong SPIFFE ID, trust domain, private key or roots', async () => {
    const chain = chainOf(await leaf());
    const other = await createTestCa('ec-p256');
    const violations = checkX509SvidProfile(chain, {
      expectedSpiffeId: 'spiffe://example.org/ns/default/sa/db',
      trustDomain: TrustDomain.parse('other.org'),
      privateKey: generateKeyPair('ec-p256').privateKey,
      roots: [certDer(other.root.certificate)],
      now: new Date(Date.now() + 2 * 3600_000),
    });
    expect(violations).toEqual(
      expect.arrayContaining([
        `leaf: SPIFFE ID is ${ID}, expected spiffe://example.org/ns/default/sa/db`,
        `leaf: SPIFFE ID ${ID} is not in trust domain other.org`,
        'leaf: private key does not match the public key',
        'chain: does not chain to any of the given roots',
        expect.stringMatching(/^leaf: not valid at/),
      ]),
    );
  });

  it('a signing certificate that is not a CA, lacks keyCertSign or has a SPIFFE ID with a path', async () => {
    const keys = generateKeyPair('ec-p256');
    const badCa = await x509.X509CertificateGenerator.create({
      serialNumber: '7f0102030405060708090a0b0c0d0e0f',
      subject: 'CN=not a ca',
      issuer: ca.root.certificate.subjectName,
      notBefore: new Date(Date.now() - 10_000),
      notAfter: new Date(Date.now() + 86400_000),
      publicKey: keys.publicKey.export({ format: 'der', type: 'spki' }),
      signingKey: await toCryptoKey(ca.root.privateKey, 'sign'),
      signingAlgorithm: webCryptoSigningAlgorithm('ec-p256'),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(digitalSignature, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/ca' }]),
        new x509.SubjectKeyIdentifierExtension(subjectKeyIdentifier(keys.publicKey.export({ format: 'der', type: 'spki' })).toString('hex')),
      ],
    });
    const violations = checkX509SvidProfile([await leaf(), Buffer.from(badCa.rawData)]);
    expect(violations).toEqual(
      expect.arrayContaining([
        'CA[1]: signing certificate must have cA=true',
        'CA[1]: signing certificate must have keyCertSign',
        'CA[1]: signing certificate SPIFFE ID spiffe://example.org/ca must not have a path',
        'leaf: is not issued and signed by the next certificate in the chain',
      ]),
    );
  });

  it('an empty chain or garbage', () => {
    expect(checkX509SvidProfile([])).toEqual(['chain is empty']);
    expect(checkX509SvidProfile([Buffer.from('garbage')])).toEqual(['chain holds a certificate that does not parse']);
  });
});
