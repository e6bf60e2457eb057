import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import { TrustDomain } from '../../core/spiffeid.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import { requirePeer } from '../peers/peers.js';
import { CaFixture, newCsr, pemToDer, rpc, splitPem, TRUST_DOMAIN } from './fixture.js';

const run = promisify(execFile);
const WEB_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;

let ca: CaFixture;
let openssl: string;
let client: IstioCertificateServiceClient;
let token: string;

beforeAll(async () => {
  openssl = requirePeer('openssl'); // a missing peer fails the suite, never skips it
  ca = await CaFixture.start({ kubernetes: 'jwt' });
  token = await ca.saToken('shop', 'web');
  client = ca.istioClient({ bearer: () => token });
});

afterAll(async () => {
  client?.close();
  await ca?.close();
});

/** What istio-agent does: a fresh key, a CSR, CreateCertificate with its token. */
async function requestSvid(validitySeconds: number, spiffeId?: string) {
  const { csr, privateKey, keyPem } = await newCsr({ spiffeId });
  const started = Date.now();
  const res = await rpc(client, client.CreateCertificate, { csr, validity_duration: validitySeconds });
  return { chain: res.cert_chain, privateKey, keyPem, started };
}

describe('IstioCertificateService over TLS with a Bearer service-account token (jwt mode)', () => {
  it('answers leaf first, every element ending in "\\n", the root bundle last', async () => {
    const { chain } = await requestSvid(3600);
    expect(chain.length).toBe(3);
    for (const element of chain) expect(element.endsWith('\n')).toBe(true);
    for (const element of chain.slice(0, -1)) expect(splitPem(element)).toEqual([element]);
    expect(chain.at(-1)).toBe(ca.bundlePem());

    const [leaf, intermediate] = chain.map((pem) => new X509Certificate(pem));
    expect(leaf!.ca).toBe(false);
    expect(leaf!.subjectAltName).toBe(`URI:${WEB_ID}`);
    expect(leaf!.checkIssued(intermediate!)).toBe(true);
    expect(intermediate!.ca).toBe(true);
  });

  it('passes openssl verify -x509_strict, for TLS client and server use', async () => {
    const { chain } = await requestSvid(3600);
    const files = { root: path.join(ca.dir, 'root.pem'), inter: path.join(ca.dir, 'inter.pem'), leaf: path.join(ca.dir, 'leaf.pem') };
    await writeFile(files.root, chain.at(-1)!);
    await writeFile(files.inter, chain.slice(1, -1).join(''));
    await writeFile(files.leaf, chain[0]!);
    for (const purpose of [[], ['-purpose', 'sslclient'], ['-purpose', 'sslserver']]) {
      const { stdout } = await run(openssl, ['verify', '-x509_strict', ...purpose, '-CAfile', files.root, '-untrusted', files.inter, files.leaf]);
      expect(stdout.trim()).toBe(`${files.leaf}: OK`);
    }
  });

  it('conforms to the X509-SVID profile field by field, with the SPIFFE ID from the token', async () => {
    const { chain, privateKey } = await requestSvid(3600);
    const violations = checkX509SvidProfile(chain.slice(0, -1).map(pemToDer), {
      expectedSpiffeId: WEB_ID,
      trustDomain: TrustDomain.parse(TRUST_DOMAIN),
      privateKey,
      roots: splitPem(chain.at(-1)!).map(pemToDer),
      now: new Date(),
    });
    expect(violations).toEqual([]);
  });

  it('accepts a CSR that names the attested SPIFFE ID itself', async () => {
    const { chain } = await requestSvid(3600, WEB_ID);
    expect(new X509Certificate(chain[0]!).subjectAltName).toBe(`URI:${WEB_ID}`);
  });

  it('honours validity_duration: 600 s gives notAfter 600 s from now, backdated notBefore (610 s span)', async () => {
    const { chain, started } = await requestSvid(600);
    const leaf = new X509Certificate(chain[0]!);
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    expect((notAfter - notBefore) / 1000).toBe(610);
    expect(Math.abs(notAfter - (started + 600_000))).toBeLessThan(5_000);
  });

  it('validity_duration 0 means the configured default TTL (1h)', async () => {
    const { chain } = await requestSvid(0);
    const leaf = new X509Certificate(chain[0]!);
    expect((Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000).toBe(3600 + 10);
  });

  it('renews over mTLS with the current SVID as client certificate and no token', async () => {
    const { chain, keyPem } = await requestSvid(600);
    const current = new X509Certificate(chain[0]!);
    const renewing = ca.istioClient({ identity: { certChainPem: chain.slice(0, -1).join(''), keyPem } });
    try {
      const { csr } = await newCsr();
      const res = await rpc(renewing, renewing.CreateCertificate, { csr, validity_duration: 600 });
      const renewed = new X509Certificate(res.cert_chain[0]!);
      expect(renewed.subjectAltName).toBe(`URI:${WEB_ID}`);
      expect(renewed.serialNumber).not.toBe(current.serialNumber);
      expect(res.cert_chain.at(-1)).toBe(ca.bundlePem());
    } finally {
      renewing.close();
    }
  });
});
