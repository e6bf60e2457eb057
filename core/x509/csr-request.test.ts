import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requirePeer } from '../../test/peers/peers.js';
import { SpiffeId } from '../spiffeid.js';
import { parseCsr } from './csr.js';
import { createCsrPem } from './csr-request.js';
import { generateKeyPair, KEY_ALGORITHMS } from './keys.js';
import { x509 } from './peculiar.js';

const ID = SpiffeId.parse('spiffe://example.org/ns/shop/sa/web');

describe('createCsrPem (node:crypto encoder)', () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== 'rsa-4096'))('%s: openssl, @peculiar/x509 and parseCsr agree', async (alg) => {
    const keys = generateKeyPair(alg);
    const pem = createCsrPem({ ...keys, spiffeId: ID, dnsNames: ['web.shop.svc'], subject: 'O=meshid' });

    const text = execFileSync(requirePeer('openssl'), ['req', '-verify', '-noout', '-text'], { input: pem, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    expect(text).toContain(`URI:${ID}`);
    expect(text).toContain('DNS:web.shop.svc');

    const csr = new x509.Pkcs10CertificateRequest(pem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('O=meshid');
    expect(Buffer.from(csr.publicKey.rawData).equals(keys.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);

    const parsed = await parseCsr(pem);
    expect(parsed.uriSans).toEqual([ID.toString()]);
    expect(parsed.dnsSans).toEqual(['web.shop.svc']);
    expect(parsed.keyAlgorithm).toBe(alg);
  });

  it('without names: empty subject and no extension request', async () => {
    const pem = createCsrPem(generateKeyPair());
    const csr = new x509.Pkcs10CertificateRequest(pem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('');
    expect(csr.extensions).toHaveLength(0);
    expect((await parseCsr(pem)).uriSans).toEqual([]);
  });
});
