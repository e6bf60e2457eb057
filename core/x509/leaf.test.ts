import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certDer, createTestCa, type TestCa } from '../../test/x509/fixtures.js';
import { createLeafCertificateReference } from '../../test/x509/leaf-reference.js';
import { MeshidError } from '../errors.js';
import { contents, decodeOid, DerReader, TAG } from './der.js';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';
import { createLeafSigner, leafValidity, type LeafRequest, type LeafSignerOptions } from './leaf.js';
import { x509 } from './peculiar.js';

const SPIFFE_ID = 'spiffe://example.org/ns/default/sa/web';
const ISSUER_ALGS: KeyAlgorithm[] = ['ec-p256', 'ec-p384', 'rsa-2048'];

/** TBSCertificate bytes of a certificate: what the signature covers. */
function tbsOf(der: Uint8Array): Buffer {
  const cert = DerReader.within(der, new DerReader(der).next(TAG.SEQUENCE));
  const tbs = cert.next(TAG.SEQUENCE);
  return Buffer.from(der.subarray(tbs.start, tbs.end));
}

function spkiOf(alg: KeyAlgorithm): Buffer {
  return generateKeyPair(alg).publicKey.export({ format: 'der', type: 'spki' });
}

function request(overrides: Partial<LeafRequest> = {}): LeafRequest {
  return {
    spkiDer: spkiOf('ec-p256'),
    spiffeId: SPIFFE_ID,
    notBefore: new Date('2030-01-01T00:00:00Z'),
    notAfter: new Date('2030-01-01T01:00:00Z'),
    ...overrides,
  };
}

function expectMeshidError(fn: () => unknown, code: string, reason: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MeshidError);
    expect((err as MeshidError).code).toBe(code);
    expect((err as MeshidError).reason).toBe(reason);
    if (message) expect((err as MeshidError).message).toMatch(message);
    return;
  }
  throw new Error('expected a MeshidError');
}

const cas = new Map<KeyAlgorithm, TestCa>();
const optionsFor = (alg: KeyAlgorithm, subject?: string): LeafSignerOptions => {
  const ca = cas.get(alg)!;
  return { issuerCertDer: certDer(ca.intermediate.certificate), issuerKey: ca.intermediate.privateKey, subject };
};

beforeAll(async () => {
  for (const alg of ISSUER_ALGS) cas.set(alg, await createTestCa(alg));
});

describe('fast path equals the @peculiar/x509 reference', () => {
  const cases: { name: string; subjectKey: KeyAlgorithm; subject?: string; dnsNames?: string[]; notAfter?: Date }[] = [
    { name: 'EC leaf, empty subject', subjectKey: 'ec-p256' },
    { name: 'EC leaf with DNS names', subjectKey: 'ec-p256', dnsNames: ['web.default.svc', '*.web.example.org'] },
    { name: 'configured subject', subjectKey: 'ec-p384', subject: 'O=meshid, CN=workload' },
    { name: 'RSA leaf', subjectKey: 'rsa-2048', dnsNames: ['rsa.example.org'] },
    { name: 'validity across 2050', subjectKey: 'ec-p256', notAfter: new Date('2051-06-30T12:34:56Z') },
  ];
  for (const issuerAlg of ISSUER_ALGS) {
    for (const c of cases) {
      it(`${issuerAlg} issuer: ${c.name}`, async () => {
        const options = optionsFor(issuerAlg, c.subject);
        const serial = Buffer.from('8f3c1e0a22b4c6d8e0f1a2b3c4d5e6f7', 'hex'); // high bit set: needs a 0x00 pad
        const req = request({
          spkiDer: spkiOf(c.subjectKey),
          dnsNames: c.dnsNames,
          serial,
          notBefore: new Date('2049-12-31T23:59:50.750Z'),
          notAfter: c.notAfter ?? new Date('2049-12-31T23:59:59.999Z'),
        });
        const fast = createLeafSigner(options).sign(req);
        const reference = await createLeafCertificateReference(options, { ...req, serial });

        expect(tbsOf(fast.der).equals(tbsOf(new Uint8Array(reference.rawData)))).toBe(true);
        expect(fast.serialHex).toBe(reference.serialNumber.toLowerCase());
        // both signatures verify under the issuer key
        const issuerKey = new NodeX509Certificate(options.issuerCertDer).publicKey;
        expect(new NodeX509Certificate(fast.der).verify(issuerKey)).toBe(true);
        expect(new NodeX509Certificate(Buffer.from(reference.rawData)).verify(issuerKey)).toBe(true);
      });
    }
  }
});

describe('leaf profile', () => {
  it('encodes the SVID profile fields', () => {
    const options = optionsFor('ec-p256');
    const issuer = new x509.X509Certificate(options.issuerCertDer);
    const issued = createLeafSigner(options).sign(request({ dnsNames: ['web.example.org'] }));
    const leaf = new x509.X509Certificate(issued.der);

    expect(leaf.subject).toBe('');
    expect(leaf.issuer).toBe(issuer.subject);
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.critical).toBe(true);
    expect(san.names.items.map((n) => [n.type, n.value])).toEqual([
      ['url', SPIFFE_ID],
      ['dns', 'web.example.org'],
    ]);
    const ku = leaf.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement);
    const bc = leaf.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.critical, bc.ca]).toEqual([true, false]);
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    expect(aki.keyId).toBe(issuer.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(leaf.getExtension(x509.SubjectKeyIdentifierExtension)).toBeDefined();
  });

  it('gives RSA leaves keyEncipherment instead of keyAgreement', () => {
    const issued = createLeafSigner(optionsFor('ec-p256')).sign(request({ spkiDer: spkiOf('rsa-2048') }));
    const ku = new x509.X509Certificate(issued.der).getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });

  it('makes the SAN non-critical when a subject is configured', () => {
    const issued = createLeafSigner(optionsFor('ec-p256', 'O=meshid')).sign(request());
    const leaf = new x509.X509Certificate(issued.der);
    expect(leaf.subject).toBe('O=meshid');
    expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)!.critical).toBe(false);
  });

  it('draws a fresh positive 128-bit serial per leaf', () => {
    const signer = createLeafSigner(optionsFor('ec-p256'));
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { der, serialHex } = signer.sign(request());
      const cert = DerReader.within(der, new DerReader(der).next(TAG.SEQUENCE));
      const tbs = DerReader.within(der, cert.next(TAG.SEQUENCE));
      tbs.next(); // version
      const serial = contents(der, tbs.next(TAG.INTEGER));
      expect(serial.length).toBe(16);
      expect(serial[0]! & 0x80).toBe(0);
      expect(Buffer.from(serial).toString('hex')).toBe(serialHex);
      serials.add(serialHex);
    }
    expect(serials.size).toBe(200);
  });

  it('uses the signature algorithm of the issuer key', () => {
    const expected: Record<string, string> = {
      'ec-p256': '1.2.840.10045.4.3.2',
      'ec-p384': '1.2.840.10045.4.3.3',
      'rsa-2048': '1.2.840.113549.1.1.11',
    };
    for (const alg of ISSUER_ALGS) {
      const der = createLeafSigner(optionsFor(alg)).sign(request()).der;
      const cert = DerReader.within(der, new DerReader(der).next(TAG.SEQUENCE));
      cert.next(TAG.SEQUENCE); // tbs
      const algId = DerReader.within(der, cert.next(TAG.SEQUENCE));
      expect(decodeOid(contents(der, algId.next(TAG.OID)))).toBe(expected[alg]);
    }
  });
});

describe('leaf request validation', () => {
  const signer = () => createLeafSigner(optionsFor('ec-p256'));

  it('rejects IDs without a path and invalid IDs', () => {
    expectMeshidError(() => signer().sign(request({ spiffeId: 'spiffe://example.org' })), 'INVALID_ARGUMENT', 'bad_spiffe_id', /path/);
    expectMeshidError(() => signer().sign(request({ spiffeId: 'spiffe://example.org/a/../b' })), 'INVALID_ARGUMENT', 'bad_spiffe_id');
  });

  it('rejects malformed DNS names', () => {
    for (const dns of ['', 'a..b', 'sp ace.example', 'ünï.example', `${'a'.repeat(64)}.example`, 'a.*.example']) {
      expectMeshidError(() => signer().sign(request({ dnsNames: [dns] })), 'INVALID_ARGUMENT', 'bad_dns_name');
    }
  });

  it('rejects an inverted validity window and bad serials', () => {
    expectMeshidError(
      () => signer().sign(request({ notBefore: new Date('2030-01-01T01:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') })),
      'INVALID_ARGUMENT',
      'bad_ttl',
    );
    expectMeshidError(() => signer().sign(request({ serial: Buffer.alloc(16) })), 'INVALID_ARGUMENT', 'bad_serial');
    expectMeshidError(() => signer().sign(request({ serial: Buffer.alloc(21, 1) })), 'INVALID_ARGUMENT', 'bad_serial');
  });

  it('rejects unsupported or malformed subject keys', () => {
    expectMeshidError(() => signer().sign(request({ spkiDer: Buffer.from('3000', 'hex') })), 'INVALID_ARGUMENT', 'bad_key');
    expectMeshidError(() => signer().sign(request({ spkiDer: Buffer.concat([spkiOf('ec-p256'), Buffer.of(0)]) })), 'INVALID_ARGUMENT', 'bad_key');
  });

  it('refuses a signing certificate that is not a CA or does not match the key', async () => {
    const ca = cas.get('ec-p256')!;
    const leafDer = createLeafSigner(optionsFor('ec-p256')).sign(request()).der;
    expectMeshidError(() => createLeafSigner({ issuerCertDer: leafDer, issuerKey: ca.intermediate.privateKey }), 'FAILED_PRECONDITION', 'bad_issuer', /not a CA/);
    expectMeshidError(
      () => createLeafSigner({ issuerCertDer: certDer(ca.intermediate.certificate), issuerKey: ca.root.privateKey }),
      'FAILED_PRECONDITION',
      'bad_issuer',
      /does not match/,
    );
  });
});

describe('leafValidity', () => {
  const now = new Date('2030-05-05T10:00:00.400Z');
  const issuerNotAfter = new Date('2031-01-01T00:00:00Z');

  it('backdates notBefore and grants the requested TTL in whole seconds', () => {
    const v = leafValidity({ now, requestedTtlSeconds: 3600, maxTtlSeconds: 86400, issuerNotAfter });
    expect(v.notBefore.toISOString()).toBe('2030-05-05T09:59:50.000Z');
    expect(v.notAfter.toISOString()).toBe('2030-05-05T11:00:00.000Z');
    const custom = leafValidity({ now, requestedTtlSeconds: 60, maxTtlSeconds: 60, issuerNotAfter, backdateSeconds: 0 });
    expect(custom.notBefore.toISOString()).toBe('2030-05-05T10:00:00.000Z');
    expect(custom.notAfter.toISOString()).toBe('2030-05-05T10:01:00.000Z');
  });

  it('caps notAfter at the issuing CA notAfter', () => {
    const soon = new Date('2030-05-05T10:30:00Z');
    const v = leafValidity({ now, requestedTtlSeconds: 3600, maxTtlSeconds: 86400, issuerNotAfter: soon });
    expect(v.notAfter.toISOString()).toBe(soon.toISOString());
  });

  it('rejects TTLs <= 0, non-numbers and above the maximum', () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectMeshidError(() => leafValidity({ now, requestedTtlSeconds: ttl, maxTtlSeconds: 86400, issuerNotAfter }), 'INVALID_ARGUMENT', 'bad_ttl');
    }
    expectMeshidError(
      () => leafValidity({ now, requestedTtlSeconds: 86401, maxTtlSeconds: 86400, issuerNotAfter }),
      'INVALID_ARGUMENT',
      'bad_ttl',
      /exceeds the maximum of 86400s/,
    );
  });

  it('fails when the issuing CA has expired', () => {
    expectMeshidError(
      () => leafValidity({ now, requestedTtlSeconds: 60, maxTtlSeconds: 86400, issuerNotAfter: new Date('2030-05-05T09:00:00Z') }),
      'FAILED_PRECONDITION',
      'issuer_expired',
    );
  });
});
