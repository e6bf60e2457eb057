import type { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildRawCsr, certDer, createTestCa, nodeKeyPair, toPem } from '../../test/x509/fixtures.js';
import { MeshidError } from '../errors.js';
import { SpiffeId } from '../spiffeid.js';
import { checkCsrIdentity, decodeCsrDer, MAX_CSR_BYTES, parseCsr } from './csr.js';
import { createCsrPem } from './csr-request.js';
import { generateKeyPair, type KeyAlgorithm, type KeyPair } from './keys.js';
import { KEY_USAGE_BIT, OID, type KeyUsageName } from './oids.js';
import { x509 } from './peculiar.js';

const ID = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');

function invalidArgument(err: unknown): MeshidError {
  expect(err).toBeInstanceOf(MeshidError);
  expect((err as MeshidError).code).toBe('INVALID_ARGUMENT');
  return err as MeshidError;
}

function rejection(fn: () => unknown): MeshidError {
  try {
    fn();
  } catch (err) {
    return invalidArgument(err);
  }
  throw new Error('expected the CSR to be rejected');
}

async function csrRejection(pem: string): Promise<MeshidError> {
  try {
    await parseCsr(pem);
  } catch (err) {
    return invalidArgument(err);
  }
  throw new Error('expected the CSR to be rejected');
}

const csrPem = (der: Uint8Array) => toPem('CERTIFICATE REQUEST', der);
const san = (names: x509.JsonGeneralName[]) => new Uint8Array(new x509.SubjectAlternativeNameExtension(names).rawData);
const keyUsage = (usages: KeyUsageName[], critical = true) =>
  new Uint8Array(new x509.KeyUsagesExtension(usages.reduce((f, u) => f | (1 << KEY_USAGE_BIT[u]), 0), critical).rawData);
const basicConstraints = (ca: boolean) => new Uint8Array(new x509.BasicConstraintsExtension(ca, undefined, true).rawData);
const extKeyUsage = (oids: string[]) => new Uint8Array(new x509.ExtendedKeyUsageExtension(oids).rawData);

let p256: KeyPair;
beforeAll(() => {
  p256 = generateKeyPair('ec-p256');
});

describe('parseCsr accepts well-formed leaf requests', () => {
  for (const alg of ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072'] as KeyAlgorithm[]) {
    it(`${alg} CSR from createCsrPem`, async () => {
      const keys = generateKeyPair(alg);
      const pem = createCsrPem({ ...keys, spiffeId: ID, dnsNames: ['web.default.svc'] });
      const csr = await parseCsr(pem);
      expect(csr.keyAlgorithm).toBe(alg);
      expect(csr.spkiDer.equals(keys.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
      expect(csr.publicKey.equals(keys.publicKey)).toBe(true);
      expect(csr.uriSans).toEqual([ID.toString()]);
      expect(csr.dnsSans).toEqual(['web.default.svc']);
    });
  }

  it('accepts a request without extensions, leaf key usages, leaf EKUs and cA=false', async () => {
    expect((await parseCsr(csrPem(buildRawCsr({ keys: p256 })))).uriSans).toEqual([]);
    const csr = await parseCsr(
      csrPem(
        buildRawCsr({
          keys: p256,
          extensions: [
            keyUsage(['digitalSignature', 'keyEncipherment', 'keyAgreement']),
            extKeyUsage([OID.serverAuth, OID.clientAuth]),
            basicConstraints(false),
          ],
        }),
      ),
    );
    expect(csr.keyAlgorithm).toBe('ec-p256');
  });

  it('accepts the legacy NEW CERTIFICATE REQUEST label, CRLF line ends and surrounding whitespace', async () => {
    const der = buildRawCsr({ keys: p256 });
    const legacy = toPem('NEW CERTIFICATE REQUEST', der).replace(/\n/g, '\r\n');
    expect((await parseCsr(`\n  ${legacy}\n`)).keyAlgorithm).toBe('ec-p256');
  });
});

describe('parseCsr rejects bad input with a precise reason', () => {
  it('oversized request, checked before parsing', async () => {
    const padded = csrPem(buildRawCsr({ keys: p256 })) + ' '.repeat(MAX_CSR_BYTES);
    const err = await csrRejection(padded);
    expect(err.reason).toBe('csr_too_large');
    expect(err.message).toContain('65536');
    // multi-byte characters count as bytes, not UTF-16 units
    expect((await csrRejection('é'.repeat(MAX_CSR_BYTES / 2 + 1))).reason).toBe('csr_too_large');
  });

  it('bad PEM', async () => {
    const good = csrPem(buildRawCsr({ keys: p256 }));
    const cases = [
      '',
      'not a pem',
      good.replace('-----END CERTIFICATE REQUEST-----', ''),
      good.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'),
      good + good,
      'prefix text\n' + good,
      '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n',
      '-----BEGIN CERTIFICATE REQUEST-----\nAAA\n-----END CERTIFICATE REQUEST-----\n',
    ];
    for (const pem of cases) expect((await csrRejection(pem)).reason).toBe('csr_bad_pem');
    expect((await csrRejection(42 as unknown as string)).reason).toBe('csr_bad_pem');
  });

  it('a PEM block that is not a CSR', async () => {
    const ca = await createTestCa('ec-p256');
    const err = await csrRejection(toPem('CERTIFICATE', certDer(ca.root.certificate)));
    expect(err.reason).toBe('csr_not_a_csr');
    expect(err.message).toContain('"CERTIFICATE"');
    // the right label around a certificate
    const wrapped = await csrRejection(csrPem(certDer(ca.root.certificate)));
    expect(wrapped.reason).toBe('csr_malformed');
  });

  it('malformed DER', async () => {
    const der = buildRawCsr({ keys: p256 });
    for (const bad of [der.subarray(0, der.length - 5), Buffer.concat([der, Buffer.of(0)]), Buffer.from('3080', 'hex')]) {
      expect((await csrRejection(csrPem(bad))).reason).toBe('csr_malformed');
    }
  });

  it('bad signature: tampered, or signed by a key other than the one requested', async () => {
    const der = buildRawCsr({ keys: p256, extensions: [san([{ type: 'url', value: ID.toString() }])] });
    const tampered = Buffer.from(der);
    tampered[tampered.length - 3]! ^= 0x01;
    const err = await csrRejection(csrPem(tampered));
    expect(err.reason).toBe('csr_bad_signature');
    expect(err.message).toMatch(/possession/);
    const foreign = buildRawCsr({ keys: p256, signingKey: generateKeyPair('ec-p256').privateKey });
    expect((await csrRejection(csrPem(foreign))).reason).toBe('csr_bad_signature');
    // a request body changed after signing (SAN swapped) no longer verifies
    const swapped = Buffer.from(der.toString('latin1').replace('/sa/web', '/sa/wex'), 'latin1');
    expect((await csrRejection(csrPem(swapped))).reason).toBe('csr_bad_signature');
  });

  it('signature algorithm that does not fit the key, or is unsupported', async () => {
    const rsa = generateKeyPair('rsa-2048');
    const mismatch = buildRawCsr({ keys: rsa, signatureAlgorithmOid: OID.ecdsaWithSha256, hash: 'sha256' });
    expect((await csrRejection(csrPem(mismatch))).reason).toBe('csr_bad_signature');
    const sha1 = buildRawCsr({ keys: p256, signatureAlgorithmOid: '1.2.840.10045.4.1', hash: 'sha1' });
    const err = await csrRejection(csrPem(sha1));
    expect(err.reason).toBe('csr_unsupported_signature_algorithm');
    expect(err.message).toContain('1.2.840.10045.4.1');
  });

  it('unsupported keys', async () => {
    const cases: [KeyPair, RegExp][] = [
      [nodeKeyPair('rsa-1024'), /1024 bits; the minimum is 2048/],
      [nodeKeyPair('secp256k1'), /curve secp256k1/],
      [nodeKeyPair('P-521'), /curve P-521/],
      [nodeKeyPair('ed25519'), /key type Ed25519/],
    ];
    for (const [keys, message] of cases) {
      const err = await csrRejection(csrPem(buildRawCsr({ keys })));
      expect(err.reason).toBe('csr_unsupported_key');
      expect(err.message).toMatch(message);
    }
  });

  it('malformed or compressed public keys', async () => {
    const spki = p256.publicKey.export({ format: 'der', type: 'spki' });
    const offCurve = Buffer.from(spki);
    offCurve[offCurve.length - 1]! ^= 0x01;
    expect((await csrRejection(csrPem(buildRawCsr({ keys: p256, spkiDer: offCurve })))).reason).toBe('csr_malformed');
    const compressed = p256.publicKey.export({ format: 'jwk' });
    const x = Buffer.from(compressed.x!, 'base64url');
    const yOdd = Buffer.from(compressed.y!, 'base64url').at(-1)! & 1;
    const compressedSpki = Buffer.concat([spki.subarray(0, 2), spki.subarray(2, 23), Buffer.of(0x03, 34, 0, 2 + yOdd), x]);
    compressedSpki[1] = compressedSpki.length - 2;
    const err = await csrRejection(csrPem(buildRawCsr({ keys: p256, spkiDer: compressedSpki })));
    expect(err.reason).toBe('csr_unsupported_key');
    expect(err.message).toMatch(/uncompressed/);
  });

  it('CSR requesting a CA certificate', async () => {
    const err = await csrRejection(csrPem(buildRawCsr({ keys: p256, extensions: [basicConstraints(true)] })));
    expect(err.reason).toBe('csr_requests_ca');
    expect(err.message).toMatch(/cA=true/);
  });

  it('key usages and extended key usages beyond the leaf profile', async () => {
    for (const usage of ['keyCertSign', 'cRLSign', 'nonRepudiation', 'dataEncipherment', 'decipherOnly'] as KeyUsageName[]) {
      const err = await csrRejection(csrPem(buildRawCsr({ keys: p256, extensions: [keyUsage(['digitalSignature', usage])] })));
      expect(err.reason).toBe('csr_key_usage');
      expect(err.message).toContain(usage);
    }
    const codeSigning = '1.3.6.1.5.5.7.3.3';
    const err = await csrRejection(csrPem(buildRawCsr({ keys: p256, extensions: [extKeyUsage([OID.serverAuth, codeSigning])] })));
    expect(err.reason).toBe('csr_key_usage');
    expect(err.message).toContain(codeSigning);
  });

  it('more than one URI SAN', async () => {
    const names: x509.JsonGeneralName[] = [
      { type: 'url', value: ID.toString() },
      { type: 'url', value: 'spiffe://example.org/other' },
    ];
    const err = await csrRejection(csrPem(buildRawCsr({ keys: p256, extensions: [san(names)] })));
    expect(err.reason).toBe('csr_multiple_uri_sans');
  });

  it('a repeated extension', async () => {
    const ext = keyUsage(['digitalSignature']);
    expect((await csrRejection(csrPem(buildRawCsr({ keys: p256, extensions: [ext, ext] })))).reason).toBe('csr_malformed');
  });

  it('never echoes the request body', async () => {
    const der = buildRawCsr({ keys: p256 });
    const tampered = Buffer.from(der);
    tampered[tampered.length - 3]! ^= 0x01;
    const pem = csrPem(tampered);
    const body = pem.split('\n')[1]!;
    expect((await csrRejection(pem)).message).not.toContain(body.slice(0, 16));
  });
});

describe('checkCsrIdentity', () => {
  it('accepts an absent or matching URI SAN', () => {
    expect(() => checkCsrIdentity({ uriSans: [] }, ID)).not.toThrow();
    expect(() => checkCsrIdentity({ uriSans: [ID.toString()] }, ID)).not.toThrow();
    expect(() => checkCsrIdentity({ uriSans: [ID.toString()] }, ID.toString())).not.toThrow();
  });

  it('rejects a URI SAN that differs from the attested identity, naming both', () => {
    const err = rejection(() => checkCsrIdentity({ uriSans: ['spiffe://example.org/ns/default/sa/admin'] }, ID));
    expect(err.reason).toBe('csr_identity_mismatch');
    expect(err.message).toContain('spiffe://example.org/ns/default/sa/admin');
    expect(err.message).toContain(ID.toString());
    // case matters: no folding
    const upper = rejection(() => checkCsrIdentity({ uriSans: [ID.toString().replace('web', 'Web')] }, ID));
    expect(upper.reason).toBe('csr_identity_mismatch');
    const long = rejection(() => checkCsrIdentity({ uriSans: ['x'.repeat(10_000)] }, ID));
    expect(long.message.length).toBeLessThan(600);
  });

  it('rejects several URI SANs', () => {
    expect(rejection(() => checkCsrIdentity({ uriSans: [ID.toString(), ID.toString()] }, ID)).reason).toBe('csr_multiple_uri_sans');
  });
});

describe('fast DER reader agrees with @peculiar/x509', () => {
  const uri = fc.stringMatching(/^spiffe:\/\/[a-z0-9.-]{1,20}(\/[A-Za-z0-9._-]{1,12}){0,4}$/);
  const dns = fc.stringMatching(/^[a-z0-9-]{1,15}(\.[a-z0-9-]{1,15}){0,3}$/);
  const usages = fc.subarray(Object.keys(KEY_USAGE_BIT) as KeyUsageName[]);
  const ekus = fc.subarray([OID.serverAuth, OID.clientAuth, '1.3.6.1.5.5.7.3.3', '1.3.6.1.5.5.7.3.4']);
  const requestArb = fc.record({
    alg: fc.constantFrom<KeyAlgorithm>('ec-p256', 'ec-p384', 'rsa-2048'),
    uris: fc.array(uri, { maxLength: 2 }),
    dnsNames: fc.array(dns, { maxLength: 3 }),
    keyUsages: fc.option(usages.filter((u) => u.length > 0), { nil: undefined }),
    extKeyUsages: fc.option(ekus.filter((u) => u.length > 0), { nil: undefined }),
    ca: fc.option(fc.boolean(), { nil: undefined }),
    tamper: fc.boolean(),
  });

  const keyPool = new Map<KeyAlgorithm, x509.Pkcs10CertificateRequestCreateParams['keys']>();
  beforeAll(async () => {
    const params = {
      'ec-p256': { name: 'ECDSA', namedCurve: 'P-256' },
      'ec-p384': { name: 'ECDSA', namedCurve: 'P-384' },
      'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    } as const;
    for (const [alg, p] of Object.entries(params)) {
      keyPool.set(alg as KeyAlgorithm, (await globalThis.crypto.subtle.generateKey(p, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair);
    }
  });

  it('on parsed fields, signatures and accept/reject decisions for generated CSRs', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const extensions: x509.Extension[] = [];
        const names = [...r.uris.map((value) => ({ type: 'url' as const, value })), ...r.dnsNames.map((value) => ({ type: 'dns' as const, value }))];
        if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
        if (r.keyUsages) extensions.push(new x509.KeyUsagesExtension(r.keyUsages.reduce((f, u) => f | (1 << KEY_USAGE_BIT[u]), 0), true));
        if (r.extKeyUsages) extensions.push(new x509.ExtendedKeyUsageExtension(r.extKeyUsages));
        if (r.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(r.ca, undefined, true));
        const generated = await x509.Pkcs10CertificateRequestGenerator.create({
          name: 'CN=agreement',
          keys: keyPool.get(r.alg)!,
          signingAlgorithm: r.alg === 'ec-p384' ? { name: 'ECDSA', hash: 'SHA-384' } : { name: r.alg === 'rsa-2048' ? 'RSASSA-PKCS1-v1_5' : 'ECDSA', hash: 'SHA-256' },
          extensions,
        });
        const der = Buffer.from(generated.rawData);
        if (r.tamper) der[der.length - 2]! ^= 0x10;
        const reference = new x509.Pkcs10CertificateRequest(der);
        const decoded = decodeCsrDer(der);

        expect(decoded.spkiDer.equals(Buffer.from(reference.publicKey.rawData))).toBe(true);
        const refSan = reference.getExtension(OID.subjectAltName) as x509.SubjectAlternativeNameExtension | null;
        expect(decoded.uriSans).toEqual(refSan?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? []);
        expect(decoded.dnsSans).toEqual(refSan?.names.items.filter((n) => n.type === 'dns').map((n) => n.value) ?? []);
        const refKu = reference.getExtension(OID.keyUsage) as x509.KeyUsagesExtension | null;
        const decodedFlags = decoded.keyUsages?.reduce((f, u) => f | (1 << KEY_USAGE_BIT[u]), 0);
        expect(decodedFlags).toBe(refKu?.usages);
        expect(decoded.extKeyUsages).toEqual((reference.getExtension(OID.extKeyUsage) as x509.ExtendedKeyUsageExtension | null)?.usages);
        const refBc = reference.getExtension(OID.basicConstraints) as x509.BasicConstraintsExtension | null;
        expect(decoded.basicConstraintsCa).toBe(refBc?.ca);

        const referenceVerifies = await reference.verify();
        const leafOnly =
          !r.ca &&
          r.uris.length <= 1 &&
          (r.keyUsages ?? []).every((u) => ['digitalSignature', 'keyEncipherment', 'keyAgreement'].includes(u)) &&
          (r.extKeyUsages ?? []).every((u) => u === OID.serverAuth || u === OID.clientAuth);
        let accepted = true;
        try {
          await parseCsr(csrPem(der));
        } catch (err) {
          expect(err).toBeInstanceOf(MeshidError);
          accepted = false;
        }
        expect(accepted).toBe(referenceVerifies && leafOnly);
      }),
      { numRuns: 150 },
    );
  });
});
