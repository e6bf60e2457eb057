import { describe, expect, it } from 'vitest';
import { createCaCertificate } from './ca-cert.js';
import { generateKeyPair, toCryptoKey } from './keys.js';
import { x509 } from './peculiar.js';
import { makeRoot } from '../../test/authority/upstream-double.js';
import { certificatesFromPem, certificatesToPem, verifyCaChain } from './chain.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const day = 86400_000;

async function intermediate(issuer: Awaited<ReturnType<typeof makeRoot>>, subject: string, pathLength = 0) {
  const keys = generateKeyPair();
  const certificate = await createCaCertificate({
    subject,
    publicKey: keys.publicKey,
    notBefore: T0,
    notAfter: new Date(T0.getTime() + day),
    pathLength,
    issuer,
  });
  return { certificate, privateKey: keys.privateKey, publicKey: keys.publicKey };
}

describe('verifyCaChain', () => {
  it('returns the root a two-level chain leads to, checking the signing key', async () => {
    const root = await makeRoot(T0, 'CN=root');
    const other = await makeRoot(T0, 'CN=other');
    const mid = await intermediate(root, 'CN=upstream intermediate', 1);
    const ca = await intermediate(mid, 'CN=meshid');
    const anchor = verifyCaChain([ca.certificate, mid.certificate], [other.certificate, root.certificate], 'test', ca.publicKey);
    expect(anchor.subject).toBe('CN=root');
  });

  it('names what is wrong', async () => {
    const root = await makeRoot(T0, 'CN=root');
    const other = await makeRoot(T0, 'CN=other');
    const ca = await intermediate(root, 'CN=meshid');
    const unrelated = await intermediate(other, 'CN=unrelated');
    const check = (...args: Parameters<typeof verifyCaChain>) => () => verifyCaChain(...args);
    expect(check([], [root.certificate], 'upstream x')).toThrow('upstream x: the chain is empty');
    expect(check([ca.certificate], [], 'u')).toThrow('no upstream roots');
    expect(check([ca.certificate], [root.certificate], 'u', generateKeyPair().publicKey)).toThrow(
      'the signing certificate does not carry the signing key',
    );
    expect(check([ca.certificate], [other.certificate], 'u')).toThrow('the chain does not lead to any of the upstream roots');
    expect(check([ca.certificate, unrelated.certificate], [other.certificate], 'u')).toThrow(
      'certificate 0 is not signed by certificate 1',
    );
  });

  it('refuses a leaf where a CA is expected', async () => {
    const root = await makeRoot(T0, 'CN=root');
    const keys = generateKeyPair();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '01',
      subject: 'CN=leaf',
      issuer: root.certificate.subject,
      notBefore: T0,
      notAfter: new Date(T0.getTime() + day),
      publicKey: await toCryptoKey(keys.publicKey, 'verify'),
      signingKey: await toCryptoKey(root.privateKey, 'sign'),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    expect(() => verifyCaChain([leaf], [root.certificate], 'u')).toThrow('certificate 0 (CN=leaf) is not a CA');
  });
});

describe('certificatesToPem / certificatesFromPem', () => {
  it('round-trips several certificates', async () => {
    const a = await makeRoot(T0, 'CN=a');
    const b = await makeRoot(T0, 'CN=b');
    const pem = certificatesToPem([a.certificate, b.certificate]);
    expect(pem.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(certificatesFromPem(pem, 'x').map((c) => c.subject)).toEqual(['CN=a', 'CN=b']);
  });

  it('names the source of bad PEM', () => {
    expect(() => certificatesFromPem('nope', 'journal authority 12')).toThrow(
      'journal authority 12 does not hold valid PEM certificates',
    );
  });
});
