import { execFile } from 'node:child_process';
import { createPublicKey, X509Certificate as NodeCertificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCaCsrPem } from '../../../ca-server/authority/ca-csr.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { generateKeyPair, keyAlgorithmOf, type KeyAlgorithm } from '../../../core/x509/keys.js';
import { x509 } from '../../../core/x509/peculiar.js';
import { ROOT_CERT_FILE, ROOT_KEY_FILE, rootDir } from './root-files.js';
import { SelfSignedAuthority } from './self-signed-authority.js';
import type { SelfSignedConfig } from './config.js';

const td = TrustDomain.parse('example.org');
const T0 = new Date('2030-01-01T00:00:00Z');
const YEAR_S = 365 * 24 * 3600;

const csrFor = async (alg: KeyAlgorithm = 'ec-p256', subject = 'O=meshid, CN=signing ca') => {
  const keys = generateKeyPair(alg);
  return { keys, pem: await createCaCsrPem({ ...keys, subject, trustDomain: td }) };
};

const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );

describe('SelfSignedAuthority', () => {
  let dataDir: string;
  let clock: Date;
  const make = (over: Partial<SelfSignedConfig> = {}) =>
    new SelfSignedAuthority({ dataDir, trustDomain: 'example.org', ...over }, { now: () => clock });
  const keyFile = () => join(rootDir(dataDir), ROOT_KEY_FILE);
  const certFile = () => join(rootDir(dataDir), ROOT_CERT_FILE);
  const rootOf = async (authority: SelfSignedAuthority) =>
    (await authority.mintX509Ca({ csrPem: (await csrFor()).pem, trustDomain: td, preferredTtlSeconds: 3600 })).upstreamRoots[0]!;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-ss-'));
    clock = T0;
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  describe('first start', () => {
    it('creates a P-256 root valid for 10 years with private file modes', async () => {
      const authority = make();
      await authority.start();
      expect(statSync(rootDir(dataDir)).mode & 0o777).toBe(0o700);
      expect(statSync(keyFile()).mode & 0o777).toBe(0o600);
      const root = new x509.X509Certificate(readFileSync(certFile(), 'utf8'));
      expect(root.subject).toBe('O=meshid, CN=meshid root example.org');
      expect(await root.isSelfSigned()).toBe(true);
      expect(root.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
      expect(root.getExtension(x509.SubjectAlternativeNameExtension)?.names.items).toEqual([
        expect.objectContaining({ type: 'url', value: 'spiffe://example.org' }),
      ]);
      expect(root.notAfter.getTime() - T0.getTime()).toBe(10 * YEAR_S * 1000);
      const key = createPublicKey(readFileSync(keyFile(), 'utf8'));
      expect(keyAlgorithmOf(key)).toBe('ec-p256');
      expect(readFileSync(keyFile(), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      await authority.close();
    });

    it.each(['ec-p384', 'rsa-2048'] as const)('honours keyAlgorithm %s, rootTtlSeconds and subject', async (alg) => {
      const authority = make({ keyAlgorithm: alg, rootTtlSeconds: 2 * YEAR_S, subject: 'O=Acme, CN=Acme mesh root' });
      await authority.start();
      const root = await rootOf(authority);
      expect(root.subject).toBe('O=Acme, CN=Acme mesh root');
      expect(root.notAfter.getTime() - T0.getTime()).toBe(2 * YEAR_S * 1000);
      expect(keyAlgorithmOf(createPublicKey(readFileSync(keyFile(), 'utf8')))).toBe(alg);
    });
  });

  describe('restart', () => {
    it('reuses the same root', async () => {
      const first = make();
      await first.start();
      const before = readFileSync(certFile(), 'utf8');
      const rootBefore = await rootOf(first);
      await first.close();
      clock = new Date(T0.getTime() + 86_400_000);
      const second = make();
      await second.start();
      expect(readFileSync(certFile(), 'utf8')).toBe(before);
      expect((await rootOf(second)).serialNumber).toBe(rootBefore.serialNumber);
    });

    it.each([0o644, 0o640, 0o604, 0o660])('refuses a root key with mode %o', async (mode) => {
      await make().start();
      chmodSync(keyFile(), mode);
      const { code, message } = await failure(make().start());
      expect(code).toBe('FAILED_PRECONDITION');
      expect(message).toContain(`chmod 600 ${keyFile()}`);
    });

    it('refuses a corrupt key without echoing its content', async () => {
      await make().start();
      writeFileSync(keyFile(), '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
      const { code, message } = await failure(make().start());
      expect(code).toBe('FAILED_PRECONDITION');
      expect(message).toContain(`${keyFile()} does not hold an unencrypted PEM private key`);
      expect(message).not.toContain('c2VjcmV0');
    });

    it('refuses a corrupt certificate', async () => {
      await make().start();
      writeFileSync(certFile(), 'garbage');
      expect(await failure(make().start())).toEqual({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining(`${certFile()} does not hold a PEM certificate`),
      });
    });

    it('refuses a certificate whose key is missing instead of silently creating a new root', async () => {
      await make().start();
      unlinkSync(keyFile());
      const { code, message } = await failure(make().start());
      expect(code).toBe('FAILED_PRECONDITION');
      expect(message).toMatch(/root-key\.pem is missing: restore the key/);
    });

    it('recreates the certificate for a key left by an interrupted first start', async () => {
      await make().start();
      const key = readFileSync(keyFile(), 'utf8');
      unlinkSync(certFile());
      const authority = make();
      await authority.start();
      const root = new x509.X509Certificate(readFileSync(certFile(), 'utf8'));
      expect(Buffer.from(root.publicKey.rawData)).toEqual(createPublicKey(key).export({ format: 'der', type: 'spki' }));
      expect(readFileSync(keyFile(), 'utf8')).toBe(key);
    });

    it('refuses a certificate that does not match the key', async () => {
      await make().start();
      const otherDir = mkdtempSync(join(tmpdir(), 'meshid-ss-other-'));
      await new SelfSignedAuthority({ dataDir: otherDir, trustDomain: 'example.org' }).start();
      writeFileSync(certFile(), readFileSync(join(rootDir(otherDir), ROOT_CERT_FILE)));
      rmSync(otherDir, { recursive: true });
      expect((await failure(make().start())).message).toContain('does not belong to the root key next to it');
    });

    it('refuses a root made for another trust domain or key algorithm', async () => {
      await make().start();
      expect((await failure(make({ trustDomain: 'other.org' }).start())).message).toContain(
        'is for spiffe://example.org, not the configured trust domain spiffe://other.org',
      );
      expect((await failure(make({ keyAlgorithm: 'ec-p384' }).start())).message).toContain(
        'is ec-p256 but keyAlgorithm is ec-p384',
      );
    });

    it('refuses an expired root', async () => {
      await make({ rootTtlSeconds: 3600 }).start();
      clock = new Date(T0.getTime() + 3600_000);
      expect(await failure(make().start())).toEqual({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining('the root expired at 2030-01-01T01:00:00.000Z'),
      });
    });
  });

  describe('config', () => {
    it.each([
      [{ dataDir: '' }, 'dataDir must be a directory path'],
      [{ trustDomain: 'Bad.Domain' }, 'trustDomain: trust domain may only contain'],
      [{ keyAlgorithm: 'dsa' }, 'keyAlgorithm: unknown key algorithm "dsa"'],
      [{ rootTtlSeconds: 0 }, 'rootTtlSeconds must be a whole number of seconds >= 3600, got 0'],
      [{ rootTtlSeconds: 3600.5 }, 'rootTtlSeconds must be a whole number'],
      [{ subject: ' ' }, 'subject must not be empty'],
    ] as const)('rejects %o', async (over, message) => {
      const result = await failure(make(over as Partial<SelfSignedConfig>).start());
      expect(result.code).toBe('INVALID_ARGUMENT');
      expect(result.message).toContain(`self-signed upstream authority: ${message}`);
    });
  });

  describe('mintX509Ca', () => {
    let authority: SelfSignedAuthority;
    beforeEach(async () => {
      authority = make();
      await authority.start();
    });

    it('issues a pathLen-0 signing CA for the trust domain, chained to the root', async () => {
      const { keys, pem } = await csrFor();
      const { x509CaChain, upstreamRoots } = await authority.mintX509Ca({ csrPem: pem, trustDomain: td, preferredTtlSeconds: 7 * 86400 });
      expect(x509CaChain).toHaveLength(1);
      expect(upstreamRoots).toHaveLength(1);
      const [ca] = x509CaChain as [x509.X509Certificate];
      const root = upstreamRoots[0]!;
      expect(ca.subject).toBe('O=meshid, CN=signing ca');
      expect(ca.issuer).toBe(root.subject);
      expect(ca.notBefore).toEqual(new Date(T0.getTime() - 10_000));
      expect(ca.notAfter).toEqual(new Date(T0.getTime() + 7 * 86400_000));
      const basic = ca.getExtension(x509.BasicConstraintsExtension)!;
      expect([basic.ca, basic.pathLength, basic.critical]).toEqual([true, 0, true]);
      const usages = ca.getExtension(x509.KeyUsagesExtension)!;
      expect(usages.critical).toBe(true);
      expect(usages.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)).toBe(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
      );
      expect(ca.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value)).toEqual(['spiffe://example.org']);
      expect(ca.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
        root.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
      );
      expect(Buffer.from(ca.publicKey.rawData)).toEqual(keys.publicKey.export({ format: 'der', type: 'spki' }));
      expect(new NodeCertificate(Buffer.from(ca.rawData)).verify(new NodeCertificate(Buffer.from(root.rawData)).publicKey)).toBe(true);
    });

    it('passes openssl verify -x509_strict', async () => {
      const { x509CaChain, upstreamRoots } = await authority.mintX509Ca({ csrPem: (await csrFor('ec-p384')).pem, trustDomain: td, preferredTtlSeconds: 3600 });
      const rootPem = join(dataDir, 'root.pem');
      const caPem = join(dataDir, 'ca.pem');
      writeFileSync(rootPem, upstreamRoots[0]!.toString('pem'));
      writeFileSync(caPem, x509CaChain[0]!.toString('pem'));
      // the injected clock is in 2030; tell openssl which time to check against
      const attime = String(Math.floor(T0.getTime() / 1000) + 60);
      const { stdout } = await promisify(execFile)('openssl', ['verify', '-x509_strict', '-attime', attime, '-CAfile', rootPem, caPem]);
      expect(stdout.trim()).toBe(`${caPem}: OK`);
    });

    it('uses a default subject when the CSR has none', async () => {
      const { pem } = await csrFor('ec-p256', '');
      const [ca] = (await authority.mintX509Ca({ csrPem: pem, trustDomain: td, preferredTtlSeconds: 3600 })).x509CaChain;
      expect(ca!.subject).toBe('O=meshid, CN=meshid intermediate example.org');
    });

    it('never outlives the root', async () => {
      clock = new Date(T0.getTime() + (10 * YEAR_S - 3600) * 1000);
      const [ca] = (await authority.mintX509Ca({ csrPem: (await csrFor()).pem, trustDomain: td, preferredTtlSeconds: 7 * 86400 })).x509CaChain;
      expect(ca!.notAfter).toEqual(new Date(T0.getTime() + 10 * YEAR_S * 1000));
    });

    it('rejects a CSR that is not PEM', async () => {
      expect(await failure(authority.mintX509Ca({ csrPem: 'not a csr', trustDomain: td, preferredTtlSeconds: 3600 }))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'signing-CA CSR is not a PEM PKCS#10 certificate request',
      });
    });

    it('rejects a CSR whose signature does not verify', async () => {
      const der = Buffer.from(x509.PemConverter.decodeFirst((await csrFor()).pem));
      der[der.length - 1] ^= 0x01;
      const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
      expect(await failure(authority.mintX509Ca({ csrPem: tampered, trustDomain: td, preferredTtlSeconds: 3600 }))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'signing-CA CSR signature does not verify (no proof of key possession)',
      });
    });

    it('rejects a CSR with a weak key', async () => {
      const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 1024 };
      const keys = await globalThis.crypto.subtle.generateKey(alg, false, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=weak', keys, signingAlgorithm: alg });
      expect(await failure(authority.mintX509Ca({ csrPem: csr.toString('pem'), trustDomain: td, preferredTtlSeconds: 3600 }))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'unsupported RSA key size 1024 (use 2048, 3072 or 4096 bits)',
      });
    });

    it('rejects another trust domain and a bad TTL', async () => {
      const { pem } = await csrFor();
      const other = await failure(authority.mintX509Ca({ csrPem: pem, trustDomain: TrustDomain.parse('other.org'), preferredTtlSeconds: 60 }));
      expect(other).toEqual({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('serves spiffe://example.org, not spiffe://other.org') });
      expect((await failure(authority.mintX509Ca({ csrPem: pem, trustDomain: td, preferredTtlSeconds: 0 }))).code).toBe('INVALID_ARGUMENT');
    });

    it('refuses to mint before start or after close', async () => {
      const { pem } = await csrFor();
      const request = { csrPem: pem, trustDomain: td, preferredTtlSeconds: 60 };
      expect((await failure(make().mintX509Ca(request))).code).toBe('FAILED_PRECONDITION');
      await authority.close();
      expect((await failure(authority.mintX509Ca(request))).code).toBe('FAILED_PRECONDITION');
    });
  });

  describe('root rotation', () => {
    let authority: SelfSignedAuthority;
    const rotatedKey = (id: string) => join(rootDir(dataDir), 'roots', `${id}-key.pem`);
    const mintUnder = async (a: SelfSignedAuthority, root?: x509.X509Certificate) =>
      a.mintX509Ca({ csrPem: (await csrFor()).pem, trustDomain: td, preferredTtlSeconds: 3600, ...(root ? { root } : {}) });
    const idOf = (cert: x509.X509Certificate) => cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;

    beforeEach(async () => {
      authority = make();
      await authority.start();
    });

    it('prepares a new root (key 0600, a subject of its own) that signs only requests naming it', async () => {
      const original = await rootOf(authority);
      clock = new Date(T0.getTime() + 60_000);
      const { certificate, keyPath } = await authority.prepareRoot();
      expect(keyPath).toBe(rotatedKey(idOf(certificate)));
      expect(statSync(keyPath).mode & 0o777).toBe(0o600);
      expect(statSync(join(rootDir(dataDir), 'roots')).mode & 0o777).toBe(0o700);
      expect(certificate.subject).toBe('O=meshid, CN=meshid root example.org, OU=rotated 2030-01-01T00:01:00Z');
      expect(await certificate.isSelfSigned()).toBe(true);
      expect(certificate.notAfter.getTime() - clock.getTime()).toBe(10 * YEAR_S * 1000);

      expect((await mintUnder(authority)).upstreamRoots[0]!.serialNumber).toBe(original.serialNumber);
      const under = await mintUnder(authority, certificate);
      expect(under.upstreamRoots[0]!.serialNumber).toBe(certificate.serialNumber);
      expect(under.x509CaChain[0]!.issuer).toBe(certificate.subject);
      expect(await under.x509CaChain[0]!.verify({ publicKey: certificate.publicKey, signatureOnly: true })).toBe(true);
      expect((await mintUnder(authority, original)).upstreamRoots[0]!.serialNumber).toBe(original.serialNumber);
    });

    it('finds a rotated root\'s key again after a restart, and refuses one it holds no key for', async () => {
      const { certificate } = await authority.prepareRoot();
      await authority.close();
      const restarted = make();
      await restarted.start();
      expect((await mintUnder(restarted, certificate)).x509CaChain[0]!.issuer).toBe(certificate.subject);

      unlinkSync(rotatedKey(idOf(certificate)));
      const again = make();
      await again.start();
      expect(await failure(mintUnder(again, certificate))).toEqual({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining(`no key for the root "${certificate.subject}" (${rotatedKey(idOf(certificate))} is missing)`),
      });
    });

    it('refuses a rotated root key that does not match its certificate', async () => {
      const { certificate } = await authority.prepareRoot();
      const other = await authority.prepareRoot();
      writeFileSync(rotatedKey(idOf(certificate)), readFileSync(other.keyPath), { mode: 0o600 });
      const restarted = make();
      await restarted.start();
      expect((await failure(mintUnder(restarted, certificate))).message).toContain('does not belong to the root');
    });

    it('starts with an expired original root once rotated roots exist, but never signs under it', async () => {
      const short = make({ rootTtlSeconds: 3600 });
      rmSync(rootDir(dataDir), { recursive: true });
      await short.start();
      clock = new Date(T0.getTime() + 3000_000);
      const { certificate } = await short.prepareRoot();
      clock = new Date(T0.getTime() + 3700_000); // the original root expired 100 s ago
      const restarted = make({ rootTtlSeconds: 3600 });
      await restarted.start();
      expect(await failure(mintUnder(restarted))).toEqual({
        code: 'FAILED_PRECONDITION',
        message: 'self-signed upstream authority: the root "O=meshid, CN=meshid root example.org" has expired',
      });
      expect((await mintUnder(restarted, certificate)).x509CaChain[0]!.issuer).toBe(certificate.subject);
    });
  });
});
