import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { IstioCertificateRequest } from '../../protos/gen/istio/v1/auth/IstioCertificateRequest.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import { JwtIssuer, hs256Token, unsignedToken } from '../support/jwt-issuer.js';
import { buildRawCsr, nodeKeyPair, toPem } from '../x509/fixtures.js';
import { AUDIENCE, authorization, CaFixture, expectStatus, K8S_ISSUER, newCsr, rpc, TRUST_DOMAIN } from './fixture.js';

/**
 * Every bad input of the CA API gets a precise gRPC status and message, the server keeps serving after
 * each, and no token, join token or private key text ever reaches a log line or an error message.
 */

let ca: CaFixture;
let client: IstioCertificateServiceClient;
let goodToken: string;
/** Every secret a test handed to the server, checked against the logs at the end. */
const secrets: string[] = [];
/** Every error message the server answered with. */
const errors: ServiceError[] = [];

beforeAll(async () => {
  ca = await CaFixture.start({ kubernetes: 'jwt' });
  client = ca.istioClient();
  goodToken = await ca.saToken('shop', 'web');
  remember(goodToken);
});

afterAll(async () => {
  client?.close();
  await ca?.close();
});

/** Keeps a token or key PEM, plus its distinctive parts (JWT segments, PEM body lines). */
function remember(secret: string): void {
  secrets.push(secret);
  if (/^[\w-]+\.[\w-]+\.[\w-]*$/.test(secret)) secrets.push(...secret.split('.').slice(1).filter((part) => part.length > 16));
  if (secret.includes('-----BEGIN')) secrets.push(...secret.split('\n').filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line)));
}

const bearer = (token: string) => {
  remember(token);
  return authorization(`Bearer ${token}`);
};

async function goodCsr(): Promise<string> {
  const { csr, keyPem } = await newCsr();
  remember(keyPem);
  return csr;
}

/** The server still issues after a refusal. */
async function expectStillServing(): Promise<void> {
  const res = await rpc(client, client.CreateCertificate, { csr: await goodCsr(), validity_duration: 600 }, bearer(goodToken));
  expect(res.cert_chain.length).toBe(3);
}

async function refused(
  request: IstioCertificateRequest,
  metadata: Metadata,
  code: status,
  message: RegExp,
): Promise<void> {
  const call = rpc(client, client.CreateCertificate, { validity_duration: 600, ...request }, metadata);
  errors.push(await expectStatus(call, code, message));
  await expectStillServing();
}

/** PEM of a raw CSR built byte by byte (see test/x509/fixtures.ts), with its key remembered. */
function rawCsrPem(options: Parameters<typeof buildRawCsr>[0]): string {
  remember(privateKeyToPem(options.keys.privateKey));
  return toPem('CERTIFICATE REQUEST', buildRawCsr(options));
}

function p256WithExtensions(...extensions: x509.Extension[]): string {
  return rawCsrPem({ keys: generateKeyPair('ec-p256'), extensions: extensions.map((e) => new Uint8Array(e.rawData)) });
}

const uriSan = (...uris: string[]) => new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })));

describe('CSR checks (INVALID_ARGUMENT, server keeps serving)', () => {
  it('bad PEM', async () => {
    await refused({ csr: 'hello, I am not a CSR' }, bearer(goodToken), status.INVALID_ARGUMENT, /^CSR is not PEM: it must start with a "-----BEGIN \.\.\.-----" line$/);
  });

  it('PEM with a body that is not base64', async () => {
    const csr = '-----BEGIN CERTIFICATE REQUEST-----\n%%%%\n-----END CERTIFICATE REQUEST-----\n';
    await refused({ csr }, bearer(goodToken), status.INVALID_ARGUMENT, /^CSR PEM body is not valid base64$/);
  });

  it('a certificate instead of a CSR', async () => {
    await refused({ csr: ca.bundlePem() }, bearer(goodToken), status.INVALID_ARGUMENT, /^expected a PEM "CERTIFICATE REQUEST" block, got "CERTIFICATE"$/);
  });

  it('bad signature (one CSR byte tampered): no proof of possession', async () => {
    const pem = await goodCsr();
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01; // last byte of the signature's s value
    await refused(
      { csr: toPem('CERTIFICATE REQUEST', der) },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^CSR signature does not verify: the request does not prove possession of the private key/,
    );
  });

  it('RSA-1024 key', async () => {
    await refused({ csr: rawCsrPem({ keys: nodeKeyPair('rsa-1024') }) }, bearer(goodToken), status.INVALID_ARGUMENT, /^CSR RSA key has 1024 bits; the minimum is 2048$/);
  });

  it('unsupported curve (secp256k1)', async () => {
    await refused(
      { csr: rawCsrPem({ keys: nodeKeyPair('secp256k1') }) },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^unsupported CSR EC curve secp256k1 \(use P-256 or P-384\)$/,
    );
  });

  it('Ed25519 key', async () => {
    await refused({ csr: rawCsrPem({ keys: nodeKeyPair('ed25519') }) }, bearer(goodToken), status.INVALID_ARGUMENT, /^unsupported CSR key type/);
  });

  it('CSR asking for cA=true', async () => {
    await refused(
      { csr: p256WithExtensions(new x509.BasicConstraintsExtension(true, undefined, true)) },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^CSR requests a CA certificate \(basicConstraints cA=true\); SVIDs are leaves$/,
    );
  });

  it('CSR asking for keyCertSign', async () => {
    const usages = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign;
    await refused(
      { csr: p256WithExtensions(new x509.KeyUsagesExtension(usages, true)) },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^CSR requests key usage keyCertSign; a leaf SVID allows only digitalSignature, keyEncipherment and keyAgreement$/,
    );
  });

  it('CSR asking for an extended key usage beyond serverAuth/clientAuth', async () => {
    await refused(
      { csr: p256WithExtensions(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning])) },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^CSR requests extended key usage 1\.3\.6\.1\.5\.5\.7\.3\.3; a leaf SVID allows only serverAuth and clientAuth$/,
    );
  });

  it('URI SAN different from the attested identity', async () => {
    const { csr, keyPem } = await newCsr({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/kube-system/sa/admin` });
    remember(keyPem);
    await refused(
      { csr },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      new RegExp(
        `^CSR asks for URI SAN "spiffe://${TRUST_DOMAIN}/ns/kube-system/sa/admin" but the caller is attested as ` +
          `"spiffe://${TRUST_DOMAIN}/ns/shop/sa/web"; leave the URI SAN out or request the attested SPIFFE ID$`,
      ),
    );
  });

  it('two URI SANs', async () => {
    const id = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;
    await refused({ csr: p256WithExtensions(uriSan(id, `${id}-2`)) }, bearer(goodToken), status.INVALID_ARGUMENT, /^CSR has 2 URI SANs; an SVID carries exactly one$/);
  });

  it('CSR larger than 64 KiB', async () => {
    const dns = new x509.SubjectAlternativeNameExtension(
      Array.from({ length: 3000 }, (_, i) => ({ type: 'dns' as const, value: `host-${i}.shop.svc.cluster.local` })),
    );
    const csr = p256WithExtensions(dns);
    expect(csr.length).toBeGreaterThan(64 * 1024);
    await refused({ csr }, bearer(goodToken), status.INVALID_ARGUMENT, /^CSR is larger than 65536 bytes$/);
  });

  it('a request above the 256 KiB message limit is cut off by gRPC', async () => {
    await refused({ csr: 'A'.repeat(300 * 1024) }, bearer(goodToken), status.RESOURCE_EXHAUSTED, /larger than max/);
  });

  it('negative validity_duration', async () => {
    await refused({ csr: await goodCsr(), validity_duration: -1 }, bearer(goodToken), status.INVALID_ARGUMENT, /^validity_duration must not be negative$/);
  });

  it('validity_duration above the maximum TTL', async () => {
    await refused(
      { csr: await goodCsr(), validity_duration: 86_401 },
      bearer(goodToken),
      status.INVALID_ARGUMENT,
      /^requested validity 86401s exceeds the maximum of 86400s$/,
    );
  });

  it('ImpersonatedIdentity metadata (istiod node impersonation) is refused', async () => {
    const metadata = { fields: { ImpersonatedIdentity: { stringValue: `spiffe://${TRUST_DOMAIN}/ns/a/sa/b` } } };
    await refused({ csr: await goodCsr(), metadata }, bearer(goodToken), status.PERMISSION_DENIED, /^ImpersonatedIdentity is not accepted here/);
  });
});

describe('token checks (UNAUTHENTICATED, server keeps serving)', () => {
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: K8S_ISSUER,
    sub: 'system:serviceaccount:shop:web',
    aud: [AUDIENCE],
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 3600,
    ...over,
  });
  const now = Date.now();

  it('missing', async () => {
    await refused({ csr: await goodCsr() }, new Metadata(), status.UNAUTHENTICATED, /^no credentials: send "authorization: Bearer <service-account token>"/);
  });

  it('authorization that is not "Bearer <token>"', async () => {
    await refused({ csr: await goodCsr() }, authorization(`Basic ${goodToken}`), status.UNAUTHENTICATED, /^authorization metadata must be "Bearer <token>"$/);
  });

  it('malformed (not a JWT)', async () => {
    await refused(
      { csr: await goodCsr() },
      bearer('opaque-secret-token-value-1234567890'),
      status.UNAUTHENTICATED,
      /^service-account token is malformed: it is not a JWT/,
    );
  });

  it('bad signature (a forger using the real key id)', async () => {
    const forger = await JwtIssuer.create({ issuer: K8S_ISSUER, alg: 'RS256', kid: ca.jwt!.kid });
    const token = await forger.mintServiceAccountToken({ namespace: 'shop', serviceAccount: 'web', audiences: [AUDIENCE] });
    await refused({ csr: await goodCsr() }, bearer(token), status.UNAUTHENTICATED, /^service-account token signature is not valid: it does not verify with the issuer's key/);
  });

  it('bad signature (a payload edited after signing)', async () => {
    const [header, , signature] = goodToken.split('.');
    const payload = Buffer.from(JSON.stringify(claims({ sub: 'system:serviceaccount:kube-system:admin' }))).toString('base64url');
    await refused(
      { csr: await goodCsr() },
      bearer(`${header}.${payload}.${signature}`),
      status.UNAUTHENTICATED,
      /^service-account token signature is not valid/,
    );
  });

  it('alg none', async () => {
    await refused({ csr: await goodCsr() }, bearer(unsignedToken(claims())), status.UNAUTHENTICATED, /^service-account token uses signing algorithm "none", which is not accepted/);
  });

  it('HS256', async () => {
    await refused({ csr: await goodCsr() }, bearer(await hs256Token(claims())), status.UNAUTHENTICATED, /^service-account token uses signing algorithm "HS256", which is not accepted/);
  });

  it('wrong issuer', async () => {
    const token = await ca.saToken('shop', 'web', { issuer: 'https://evil.example.com' });
    await refused(
      { csr: await goodCsr() },
      bearer(token),
      status.UNAUTHENTICATED,
      new RegExp(`^service-account token was issued by "https://evil\\.example\\.com" but meshid trusts "${K8S_ISSUER.replace(/\./g, '\\.')}"`),
    );
  });

  it('wrong audience', async () => {
    const token = await ca.saToken('shop', 'web', { audiences: ['istio-ca'] });
    await refused(
      { csr: await goodCsr() },
      bearer(token),
      status.UNAUTHENTICATED,
      /^service-account token audience \["istio-ca"\] includes none of the accepted audiences \["meshid"\]/,
    );
  });

  it('expired', async () => {
    const token = await ca.saToken('shop', 'web', { issuedAt: new Date(now - 2 * 3600_000), lifetimeSeconds: 3600 });
    await refused({ csr: await goodCsr() }, bearer(token), status.UNAUTHENTICATED, /^service-account token expired at \S+Z; re-read the projected token file/);
  });

  it('not yet valid', async () => {
    const token = await ca.saToken('shop', 'web', { notBefore: new Date(now + 600_000) });
    await refused({ csr: await goodCsr() }, bearer(token), status.UNAUTHENTICATED, /^service-account token is not valid before \S+Z; check the clocks/);
  });

  it('not a service-account subject', async () => {
    const token = await ca.saToken('shop', 'web', { subject: 'system:node:worker-1' });
    await refused(
      { csr: await goodCsr() },
      bearer(token),
      status.UNAUTHENTICATED,
      /^token subject "system:node:worker-1" is not a Kubernetes service account/,
    );
  });
});

describe('secrets never leak', () => {
  it('join tokens: a used and a malformed one are refused without echoing the text', async () => {
    const admin = ca.adminClient();
    const agent = ca.agentClient();
    try {
      const created = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
      remember(created.value);
      const first = await newCsr();
      remember(first.keyPem);
      await rpc(agent, agent.AttestAgent, { join_token: created.value, csr: first.csr });
      const again = await newCsr();
      remember(again.keyPem);
      errors.push(await expectStatus(rpc(agent, agent.AttestAgent, { join_token: created.value, csr: again.csr }), status.UNAUTHENTICATED, /has already been used/));
      const mangled = `${created.value}x`;
      remember(mangled);
      errors.push(await expectStatus(rpc(agent, agent.AttestAgent, { join_token: mangled, csr: again.csr }), status.UNAUTHENTICATED, /^join token is malformed/));
    } finally {
      admin.close();
      agent.close();
    }
  });

  it('no token, join token or private key text in any log line or error message', async () => {
    // The CA's own keys are secrets too.
    const dataDir = ca.config.dataDir;
    for (const file of await readdir(dataDir, { recursive: true })) {
      const text = await readFile(path.join(dataDir, file), 'utf8').catch(() => '');
      if (text.includes('PRIVATE KEY')) remember(text);
    }
    expect(secrets.length).toBeGreaterThan(40);
    const logs = ca.logs.text();
    expect(ca.logs.lines.length).toBeGreaterThan(10);
    expect(errors.length).toBeGreaterThan(25);
    const messages = errors.map((e) => `${e.details} ${e.message}`).join('\n');
    const leaked = secrets.filter((secret) => logs.includes(secret) || messages.includes(secret));
    expect(leaked).toEqual([]);
  });
});
