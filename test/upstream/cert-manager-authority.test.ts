// meshid's cert-manager upstream against the real thing: etcd + kube-apiserver (test/peers/kube-cluster.ts)
// with cert-manager's CRDs and its real controller (test/peers/cert-manager.ts). meshid's signing-CA request is
// approved by cert-manager's own approver and signed by a CA ClusterIssuer whose CA is an intermediate under a
// root, both issued by cert-manager from a selfSigned ClusterIssuer.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { webcrypto } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaCsrPem } from '../../ca-server/authority/ca-csr.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { fingerprint } from '../../core/x509/chain.js';
import { generateKeyPair, toCryptoKey } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { MintX509CaResult } from '../../plugins/api/upstream-authority.js';
import { CertManagerAuthority } from '../../plugins/upstream/cert-manager/cert-manager-authority.js';
import type { CertManagerUpstreamConfig } from '../../plugins/upstream/cert-manager/config.js';
import { CaFixture, newCsr, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { CertManager, type CaIssuer, type CertificateRequest, type RequestWatch } from '../peers/cert-manager.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { requirePeer } from '../peers/peers.js';
import { LogEvents, nextCall } from './log-events.js';

const run = promisify(execFile);
const td = TrustDomain.parse(TRUST_DOMAIN);
const NAMESPACE = 'meshid-system';
const ISSUER = 'mesh-ca';
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );
const certOf = (pem: string) => new x509.X509Certificate(pem);

let openssl: string;
let work: string;
let cluster: KubeCluster;
let certManager: CertManager;
let requests: RequestWatch;
let kubeconfig: string;
/** The enterprise root, and the issuing CA under it that the mesh-ca ClusterIssuer signs with. */
let root: CaIssuer;
let issuing: CaIssuer;

beforeAll(async () => {
  openssl = requirePeer('openssl');
  work = await mkdtemp(path.join(tmpdir(), 'meshid-cm-'));
  cluster = await KubeCluster.start();
  certManager = await CertManager.start(cluster);
  await cluster.ensureNamespace(NAMESPACE);
  root = await certManager.createCaIssuer('enterprise-root', { commonName: 'Enterprise Root CA' });
  issuing = await certManager.createCaIssuer(ISSUER, { commonName: 'Enterprise Issuing CA', signedBy: 'enterprise-root' });
  kubeconfig = await cluster.writeKubeconfig(path.join(work, 'kubeconfig'));
  requests = await certManager.watchRequests(NAMESPACE);
});

afterAll(async () => {
  requests?.close();
  await certManager?.stop();
  await cluster?.stop();
  await rm(work, { recursive: true, force: true });
});

function authority(over: Partial<CertManagerUpstreamConfig> = {}, registry?: Registry): CertManagerAuthority {
  return new CertManagerAuthority(
    { namespace: NAMESPACE, issuerName: ISSUER, issuerKind: 'ClusterIssuer', kubeconfig, trustDomain: td, ...over },
    { log: new LogEvents().logger, registry },
  );
}

async function started(over: Partial<CertManagerUpstreamConfig> = {}, registry?: Registry): Promise<CertManagerAuthority> {
  const a = authority(over, registry);
  await a.start();
  return a;
}

/** meshid's own signing-CA CSR (the one the authority manager sends). */
async function caCsr(): Promise<string> {
  return createCaCsrPem({ ...generateKeyPair(), subject: `O=meshid, CN=meshid intermediate ${td.name}`, trustDomain: td });
}

async function mint(a: CertManagerAuthority, ttlSeconds = 3600, csrPem?: string): Promise<{ result: MintX509CaResult; csrPem: string }> {
  const csr = csrPem ?? (await caCsr());
  return { result: await a.mintX509Ca({ csrPem: csr, trustDomain: td, preferredTtlSeconds: ttlSeconds }), csrPem: csr };
}

/** The request a mint created: the watch's next ADDED event after `before` of them (it may trail the mint). */
async function createdSince(before: number): Promise<CertificateRequest> {
  return requests.added[before] ?? (await requests.next('ADDED'));
}

/** A mint that must fail, and the name of the request it created. */
async function failedMint(a: CertManagerAuthority, ttlSeconds = 3600, csrPem?: string): Promise<{ result: { code?: string; message: string }; name: string }> {
  const before = requests.added.length;
  const result = await failure(mint(a, ttlSeconds, csrPem));
  return { result, name: (await createdSince(before)).metadata.name };
}

/** Resolves once the request is gone from the API server (its DELETED event came), with its last state. */
async function deleted(name: string): Promise<CertificateRequest> {
  const last = requests.deleted.find((r) => r.metadata.name === name) ?? (await requests.next('DELETED', (r) => r.metadata.name === name));
  expect((await cluster.request('GET', `/apis/cert-manager.io/v1/namespaces/${NAMESPACE}/certificaterequests/${name}`)).status).toBe(404);
  return last;
}

async function opensslVerify(name: string, rootPem: string, untrusted: string, leafPem: string): Promise<string> {
  const files = { root: path.join(work, `${name}-root.pem`), chain: path.join(work, `${name}-chain.pem`), leaf: path.join(work, `${name}-leaf.pem`) };
  await writeFile(files.root, rootPem);
  await writeFile(files.chain, untrusted);
  await writeFile(files.leaf, leafPem);
  const { stdout } = await run(openssl, ['verify', '-x509_strict', '-CAfile', files.root, '-untrusted', files.chain, files.leaf]);
  return stdout.trim().replace(files.leaf, name);
}

describe('cert-manager upstream authority against the real cert-manager controller', () => {
  it('approved: sends the CertificateRequest SPIRE sends, the CA issuer signs it as asked, meshid deletes it', async () => {
    const a = await started();
    const before = requests.added.length;
    const { result, csrPem } = await mint(a, 7200);
    const request = await createdSince(before);
    expect(request.metadata.generateName).toBe('spiffe-ca-');
    expect(request.metadata.name).toMatch(/^spiffe-ca-[a-z0-9]{5}$/);
    expect(request.metadata.labels).toEqual({ 'cert-manager.spiffe.io/trust-domain': TRUST_DOMAIN });
    expect(request.spec).toEqual({
      request: Buffer.from(csrPem).toString('base64'),
      isCA: true,
      usages: ['cert sign', 'crl sign'],
      duration: '7200s',
      issuerRef: { name: ISSUER, kind: 'ClusterIssuer', group: 'cert-manager.io' },
    });
    await deleted(request.metadata.name);

    const [ca, ...intermediates] = result.x509CaChain;
    expect(ca!.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value)).toEqual([td.id]);
    // cert-manager keeps cA but drops the CSR's pathLen 0: it has no field for it and does not copy it.
    const constraints = ca!.getExtension(x509.BasicConstraintsExtension)!;
    expect({ ca: constraints.ca, pathLength: constraints.pathLength }).toEqual({ ca: true, pathLength: undefined });
    expect(ca!.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect((ca!.notAfter.getTime() - ca!.notBefore.getTime()) / 1000).toBe(7200);
    expect(intermediates.map(fingerprint)).toEqual([fingerprint(certOf(issuing.certificatePem))]);
    expect(result.upstreamRoots.map(fingerprint)).toEqual([fingerprint(certOf(root.rootPem))]);
    expect(await opensslVerify('signing-ca', root.rootPem, issuing.certificatePem, ca!.toString('pem'))).toBe('signing-ca: OK');
  });

  it("failed: a CSR whose key usages differ from the request's is failed by the CA issuer; FAILED_PRECONDITION, request deleted", async () => {
    // meshid's own CSR asks for exactly the usages it names in spec.usages (see 'approved'); this one adds
    // digitalSignature, which cert-manager refuses to sign rather than silently dropping.
    const keys = generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `O=meshid, CN=meshid intermediate ${td.name}`,
      keys: { privateKey: await toCryptoKey(keys.privateKey, 'sign'), publicKey: await toCryptoKey(keys.publicKey, 'verify') } as webcrypto.CryptoKeyPair,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: td.id }]),
      ],
    });
    const registry = new Registry();
    const { result, name } = await failedMint(await started({}, registry), 3600, csr.toString('pem'));
    expect(result).toEqual({
      code: 'FAILED_PRECONDITION',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "${ISSUER}" failed (Failed: Error generating ` +
        "certificate template: encoded CSR error: the KeyUsages [ 'digital signature', 'cert sign', 'crl sign' ] do not match the expected " +
        "KeyUsages [ 'cert sign', 'crl sign' ])",
    });
    await deleted(name);
    expect(await registry.getSingleMetricAsString('meshid_ca_upstream_failures_total')).toContain(
      'meshid_ca_upstream_failures_total{upstream="cert-manager",reason="cert_manager_failed"} 1',
    );
  });

  it("an issuer's CA that ends before the signing CA would: refused, since cert-manager does not shorten it", async () => {
    const shortLived = await certManager.createCaIssuer('short-lived', { commonName: 'Short-lived CA', duration: '1h' });
    const { result, name } = await failedMint(await started({ issuerName: 'short-lived' }), 7200);
    const issued = certOf(Buffer.from((await deleted(name)).status!.certificate!, 'base64').toString());
    expect(result).toEqual({
      code: 'FAILED_PRECONDITION',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "short-lived" was issued until ` +
        `${issued.notAfter.toISOString()}, past the end of the issuer's CA chain (${certOf(shortLived.rootPem).notAfter.toISOString()}), ` +
        "so its SVIDs would stop verifying first; renew the issuer's CA or lower ca.intermediateTtl",
    });
  });

  it('timeout: a CA ClusterIssuer whose Secret is missing is never Ready; UNAVAILABLE naming the last state, request deleted', async () => {
    await certManager.apply('ClusterIssuer', { name: 'broken-ca' }, { ca: { secretName: 'no-such-secret' } });
    await certManager.until('ClusterIssuer broken-ca to be not Ready', () => certManager.clusterIssuer('broken-ca'), (i) =>
      (i?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'False'),
    );
    const a = await started({ issuerName: 'broken-ca', timeoutMs: 1500 });
    const startedAt = Date.now();
    const { result, name } = await failedMint(a);
    const elapsed = Date.now() - startedAt;
    expect(result).toEqual({
      code: 'UNAVAILABLE',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "broken-ca" was not issued within 1.5 s ` +
        '(Pending: Referenced issuer does not have a Ready status condition)',
    });
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(3500);
    await deleted(name);
    console.log(`cert-manager timeout (1.5 s configured) reported after ${elapsed} ms`);
  });

  it('timeout: an issuer that does not exist; UNAVAILABLE naming it', async () => {
    const { result, name } = await failedMint(await started({ issuerName: 'no-such-issuer', timeoutMs: 1000 }));
    expect(result).toEqual({
      code: 'UNAVAILABLE',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "no-such-issuer" was not issued within 1 s ` +
        '(Pending: Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "no-such-issuer" not found)',
    });
    await deleted(name);
  });

  it("tells listeners when the issuer's root changes (a CA rotated in cert-manager), at the next signing CA", async () => {
    const rotating = await certManager.createCaIssuer('rotating-root', { commonName: 'Rotating Root CA' });
    const a = await started({ issuerName: 'rotating-root' });
    expect((await mint(a)).result.upstreamRoots.map(fingerprint)).toEqual([fingerprint(certOf(rotating.rootPem))]);
    const rootsChanged = nextCall((l: (roots: x509.X509Certificate[]) => void) => a.onRootsChanged(l));
    const rotated = await certManager.rotateCa('rotating-root');
    expect(fingerprint(certOf(rotated.rootPem))).not.toBe(fingerprint(certOf(rotating.rootPem)));
    await mint(a);
    const [roots] = await rootsChanged;
    expect(roots.map(fingerprint)).toEqual([fingerprint(certOf(rotated.rootPem))]);
  });

  it('rejected or unauthorized API credentials: PERMISSION_DENIED naming the API server and the fix, without the token', async () => {
    const bogus = 'not-a-token-the-api-server-knows';
    const rejected = await failure(mint(await started({ kubeconfig: await cluster.writeKubeconfig(path.join(work, 'bogus'), bogus) })));
    expect(rejected).toEqual({
      code: 'PERMISSION_DENIED',
      message: `cert-manager upstream authority: creating a CertificateRequest in ${cluster.url} failed: HTTP 401; check meshid's kubeconfig or service-account token`,
    });
    // A real service-account token that authenticates but has no RBAC on certificaterequests.
    await cluster.createServiceAccount(NAMESPACE, 'meshid-ca');
    const token = await cluster.requestToken(NAMESPACE, 'meshid-ca', { audiences: [cluster.issuer] });
    const forbidden = await failure(mint(await started({ kubeconfig: await cluster.writeKubeconfig(path.join(work, 'no-rbac'), token) })));
    expect(forbidden).toEqual({
      code: 'PERMISSION_DENIED',
      message:
        `cert-manager upstream authority: creating a CertificateRequest in ${cluster.url} failed: HTTP 403: certificaterequests.cert-manager.io ` +
        `is forbidden: User "system:serviceaccount:${NAMESPACE}:meshid-ca" cannot create resource "certificaterequests" in API group ` +
        `"cert-manager.io" in the namespace "${NAMESPACE}"; grant meshid create, get and delete on certificaterequests.cert-manager.io in ${NAMESPACE}`,
    });
    expect(forbidden.message).not.toContain(token);
  });

  it('a namespace that does not exist: FAILED_PRECONDITION asking whether it does', async () => {
    expect(await failure(mint(await started({ namespace: 'no-such-namespace' })))).toEqual({
      code: 'FAILED_PRECONDITION',
      message:
        `cert-manager upstream authority: creating a CertificateRequest in ${cluster.url} failed: HTTP 404: namespaces "no-such-namespace" not found; ` +
        'is cert-manager installed and does the namespace exist?',
    });
  });

  it('refuses bad settings at start, naming them', async () => {
    expect(await failure(authority({ namespace: 'Not_A_Namespace' }).start())).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'cert-manager upstream authority: namespace must be a Kubernetes namespace name, got "Not_A_Namespace"',
    });
    expect((await failure(authority({ issuerName: '' }).start())).message).toBe('cert-manager upstream authority: issuerName is required');
    expect((await failure(authority({ kubeconfig: '' }).start())).message).toContain('meshid is not running in a pod (no KUBERNETES_SERVICE_HOST); set kubeconfig');
    expect((await failure(authority({ kubeconfig: path.join(work, 'missing.yaml') }).start())).message).toContain('cannot load kubeconfig');
  });

  it("roots a full CA server: its bundle is cert-manager's root and SVIDs verify against it", async () => {
    const ca = await CaFixture.start({
      kubernetes: 'jwt',
      config: { ca: { upstream: { type: 'cert-manager', namespace: NAMESPACE, issuerName: ISSUER, issuerKind: 'ClusterIssuer', kubeconfig } } },
    });
    const token = await ca.saToken('shop', 'web');
    const client = ca.istioClient({ bearer: () => token });
    try {
      expect(ca.server.bundle().x509Authorities.map((der) => fingerprint(new x509.X509Certificate(der)))).toEqual([fingerprint(certOf(root.rootPem))]);
      const { csr } = await newCsr();
      const { cert_chain: chain } = await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 });
      expect(fingerprint(certOf(chain.at(-1)!))).toBe(fingerprint(certOf(root.rootPem)));
      expect(await opensslVerify('svid', chain.at(-1)!, chain.slice(1, -1).join(''), chain[0]!)).toBe('svid: OK');
    } finally {
      client.close();
      await ca.close();
    }
  });
});

// Last in the file: it restarts the controller for good. Installations with an approval policy (e.g.
// approver-policy) turn cert-manager's approver off (--controllers=*,-certificaterequests-approver) and the
// policy approves or denies; here the test is that policy. Without cert-manager's webhook nothing checks that
// the denier may approve for the signer; the test acts with the API server's admin credentials.
describe('with an approval policy instead of cert-manager\'s approver', () => {
  beforeAll(async () => {
    await certManager.stop();
    certManager = await CertManager.start(cluster, { controllers: ['*', '-certificaterequests-approver'] });
  });

  it("denied: PERMISSION_DENIED with the approver's reason, request deleted", async () => {
    const registry = new Registry();
    const a = await started({}, registry);
    const denial = requests.next('ADDED').then((r) =>
      certManager.deny(r.metadata, 'policy.meshid.test', 'No policy approved this request: [meshid-ca: spec.isCA not allowed]'),
    );
    const { result, name } = await failedMint(a);
    await denial;
    expect(result).toEqual({
      code: 'PERMISSION_DENIED',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "${ISSUER}" was denied ` +
        '(policy.meshid.test: No policy approved this request: [meshid-ca: spec.isCA not allowed])',
    });
    await deleted(name);
    expect(await registry.getSingleMetricAsString('meshid_ca_upstream_failures_total')).toContain(
      'meshid_ca_upstream_failures_total{upstream="cert-manager",reason="cert_manager_denied"} 1',
    );
  });

  it('no approver acts in time: UNAVAILABLE, waiting for approval', async () => {
    const { result, name } = await failedMint(await started({ timeoutMs: 1000 }));
    expect(result).toEqual({
      code: 'UNAVAILABLE',
      message: `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for ClusterIssuer "${ISSUER}" was not issued within 1 s (waiting for approval)`,
    });
    await deleted(name);
  });
});
