import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, type KeyAlgorithm } from '../../core/x509/keys.js';
import { createLeafSigner, leafValidity } from '../../core/x509/leaf.js';
import { requirePeer } from '../peers/peers.js';
import { certDer, createTestCa, toPem, type TestCa } from './fixtures.js';

const run = promisify(execFile);
const SPIFFE_ID = 'spiffe://example.org/ns/default/sa/web';

describe('issued chains pass the real openssl', () => {
  let dir: string;
  let openssl: string;

  beforeAll(async () => {
    // A missing openssl fails the suite (never a skip): provision-peers.sh installs it.
    openssl = requirePeer('openssl');
    dir = await mkdtemp(path.join(tmpdir(), 'meshid-openssl-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Writes root, intermediate and a fast-path leaf; returns the file paths. */
  async function issue(name: string, ca: TestCa, leafAlg: KeyAlgorithm, options: { subject?: string; dnsNames?: string[] } = {}) {
    const issuer = ca.intermediate.certificate;
    const signer = createLeafSigner({ issuerCertDer: certDer(issuer), issuerKey: ca.intermediate.privateKey, subject: options.subject });
    const validity = leafValidity({ now: new Date(), requestedTtlSeconds: 3600, maxTtlSeconds: 86400, issuerNotAfter: issuer.notAfter });
    const spkiDer = generateKeyPair(leafAlg).publicKey.export({ format: 'der', type: 'spki' });
    const leaf = signer.sign({ spkiDer, spiffeId: SPIFFE_ID, dnsNames: options.dnsNames, ...validity });
    const files = {
      root: path.join(dir, `${name}-root.pem`),
      inter: path.join(dir, `${name}-inter.pem`),
      leaf: path.join(dir, `${name}-leaf.pem`),
    };
    await writeFile(files.root, toPem('CERTIFICATE', certDer(ca.root.certificate)));
    await writeFile(files.inter, toPem('CERTIFICATE', certDer(issuer)));
    await writeFile(files.leaf, toPem('CERTIFICATE', leaf.der));
    return files;
  }

  const verify = (f: { root: string; inter: string; leaf: string }, ...extra: string[]) =>
    run(openssl, ['verify', '-x509_strict', ...extra, '-CAfile', f.root, '-untrusted', f.inter, f.leaf]);
  const text = async (file: string) => (await run(openssl, ['x509', '-in', file, '-noout', '-text'])).stdout;

  const cases: { alg: KeyAlgorithm; sigAlg: string; keyUsage: string }[] = [
    { alg: 'ec-p256', sigAlg: 'ecdsa-with-SHA256', keyUsage: 'Digital Signature, Key Agreement' },
    { alg: 'ec-p384', sigAlg: 'ecdsa-with-SHA384', keyUsage: 'Digital Signature, Key Agreement' },
    { alg: 'rsa-2048', sigAlg: 'sha256WithRSAEncryption', keyUsage: 'Digital Signature, Key Encipherment' },
  ];

  for (const { alg, sigAlg, keyUsage } of cases) {
    it(`${alg}: openssl verify -x509_strict says OK, for TLS server and client use`, async () => {
      const files = await issue(alg, await createTestCa(alg), alg, { dnsNames: ['web.default.svc'] });
      expect((await verify(files)).stdout.trim()).toBe(`${files.leaf}: OK`);
      expect((await verify(files, '-purpose', 'sslserver')).stdout.trim()).toBe(`${files.leaf}: OK`);
      expect((await verify(files, '-purpose', 'sslclient')).stdout.trim()).toBe(`${files.leaf}: OK`);

      const leaf = await text(files.leaf);
      expect(leaf).toContain('Version: 3 (0x2)');
      expect(leaf).toContain(`Signature Algorithm: ${sigAlg}`);
      expect(leaf).toMatch(/Subject: *\n/); // empty subject
      expect(leaf).toMatch(new RegExp(`X509v3 Subject Alternative Name: critical\\s+URI:${SPIFFE_ID}, DNS:web\\.default\\.svc\\n`));
      expect(leaf).toMatch(new RegExp(`X509v3 Key Usage: critical\\s+${keyUsage}\\n`));
      expect(leaf).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE\n/);
      expect(leaf).toMatch(/X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
      const interSki = /X509v3 Subject Key Identifier: *\n\s+([0-9A-F:]+)/.exec(await text(files.inter))![1];
      expect(leaf).toMatch(/X509v3 Subject Key Identifier: *\n\s+[0-9A-F:]{59}\n/);
      expect(leaf).toMatch(new RegExp(`X509v3 Authority Key Identifier: *\\n\\s+(keyid:)?${interSki}\\n`));
      const serial = /Serial Number:\s*\n\s+([0-9a-f:]+)/.exec(leaf)![1]!;
      expect(serial.split(':').length).toBeGreaterThanOrEqual(8);
    });
  }

  it('a configured subject gets a non-critical SAN and still verifies', async () => {
    const files = await issue('subject', await createTestCa('ec-p256'), 'ec-p256', { subject: 'O=meshid, CN=web' });
    expect((await verify(files)).stdout.trim()).toBe(`${files.leaf}: OK`);
    const leaf = await text(files.leaf);
    expect(leaf).toMatch(/Subject: O ?= ?meshid, CN ?= ?web\n/);
    expect(leaf).toMatch(/X509v3 Subject Alternative Name: *\n\s+URI:/);
  });

  it('fails against a root that did not issue the chain', async () => {
    const files = await issue('foreign', await createTestCa('ec-p256'), 'ec-p256');
    const other = await issue('other', await createTestCa('ec-p256'), 'ec-p256');
    await expect(verify({ ...files, root: other.root })).rejects.toMatchObject({ stderr: expect.stringMatching(/unable to get local issuer certificate/) });
  });
});
