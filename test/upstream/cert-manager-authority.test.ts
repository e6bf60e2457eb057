import { fingerprint } from '../../core/x509/chain.js';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCaCsrPem } from '../../ca-server/authority/ca-csr.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import { CertManagerAuthority } from '../../plugins/upstream/cert-manager/cert-manager-authority.js';
import type { CertManagerUpstreamConfig } from '../../plugins/upstream/cert-manager/config.js';
import type { MintX509CaResult } from '../../plugins/api/upstream-authority.js';
import { CaFixture, newCsr, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { requirePeer } from '../peers/peers.js';
import { CertManagerStandin } from './cert-manager-standin.js';
import { LogEvents, nextCall } from './log-events.js';
import { makeOperatorPki, pem, type OperatorPki } from './operator-pki.js';

const run = promisify(execFile);
const td = TrustDomain.parse(TRUST_DOMAIN);
const NAMESPACE = 'meshid-system';
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );

let openssl: string;
let work: string;
let pki: OperatorPki;
let standin: CertManagerStandin;
let kubeconfig: string;

beforeAll(async () => {
  openssl = requirePeer('openssl');
  work = await mkdtemp(path.join(tmpdir(), 'meshid-cm-'));
  pki = await makeOperatorPki();
  // The issuer signs with the enterprise issuing CA (what a cert-manager CA Issuer's secret would hold).
  standin = await CertManagerStandin.start({ issuer: pki.enterprise, intermediates: [pki.enterprise.certificate], root: pki.root.certificate });
  kubeconfig = await standin.writeKubeconfig(work);
});

afterAll(async () => {
  await standin?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  standin.behaviour = 'issue';
  standin.issuer = { issuer: pki.enterprise, intermediates: [pki.enterprise.certificate], root: pki.root.certificate };
});

function authority(over: Partial<CertManagerUpstreamConfig> = {}, registry?: Registry): CertManagerAuthority {
  return new CertManagerAuthority(
    { namespace: NAMESPACE, issuerName: 'mesh-ca', kubeconfig, trustDomain: td, ...over },
    { log: new LogEvents().logger, registry },
  );
}

async function started(over: Partial<CertManagerUpstreamConfig> = {}, registry?: Registry): Promise<CertManagerAuthority> {
  const a = authority(over, registry);
  await a.start();
  return a;
}

async function mint(a: CertManagerAuthority, ttlSeconds = 3600): Promise<{ result: MintX509CaResult; csrPem: string }> {
  const keys = generateKeyPair();
  const csrPem = await createCaCsrPem({ ...keys, subject: `O=meshid, CN=meshid intermediate ${td.name}`, trustDomain: td });
  return { result: await a.mintX509Ca({ csrPem, trustDomain: td, preferredTtlSeconds: ttlSeconds }), csrPem };
}

describe('cert-manager upstream authority against the Kubernetes API stand-in', () => {
  it('approved: sends the CertificateRequest SPIRE sends, reads certificate + ca, deletes the request', async () => {
    const a = await started({ issuerKind: 'ClusterIssuer' });
    const before = standin.created.length;
    const { result, csrPem } = await mint(a, 7200);
    const request = standin.created.at(-1)!;
    expect(standin.created.length).toBe(before + 1);
    expect(request.metadata.generateName).toBe('spiffe-ca-');
    expect(request.metadata.name).toMatch(/^spiffe-ca-[0-9a-f]{5}$/);
    expect(request.metadata.labels).toEqual({ 'cert-manager.spiffe.io/trust-domain': TRUST_DOMAIN });
    expect(request.spec).toEqual({
      request: Buffer.from(csrPem).toString('base64'),
      isCA: true,
      usages: ['cert sign', 'crl sign'],
      duration: '7200s',
      issuerRef: { name: 'mesh-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
    });
    expect(standin.deleted).toContain(request.metadata.name);
    expect(standin.stored).toEqual([]);

    expect(result.x509CaChain[0]!.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value)).toEqual([td.id]);
    expect(result.x509CaChain.slice(1).map(fingerprint)).toEqual([fingerprint(pki.enterprise.certificate)]);
    expect(result.upstreamRoots.map(fingerprint)).toEqual([fingerprint(pki.root.certificate)]);
    const files = { root: path.join(work, 'root.pem'), chain: path.join(work, 'chain.pem'), ca: path.join(work, 'ca.pem') };
    await writeFile(files.root, pem(pki.root.certificate));
    await writeFile(files.chain, pem(...result.x509CaChain.slice(1)));
    await writeFile(files.ca, pem(result.x509CaChain[0]!));
    const { stdout } = await run(openssl, ['verify', '-x509_strict', '-CAfile', files.root, '-untrusted', files.chain, files.ca]);
    expect(stdout.trim()).toBe(`${files.ca}: OK`);
  });

  it('denied: PERMISSION_DENIED with the approver\'s reason, request deleted', async () => {
    standin.behaviour = 'deny';
    const registry = new Registry();
    const a = await started({}, registry);
    const result = await failure(mint(a));
    const name = standin.created.at(-1)!.metadata.name;
    expect(result).toEqual({
      code: 'PERMISSION_DENIED',
      message:
        `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for Issuer "mesh-ca" was denied ` +
        '(policy.cert-manager.io: No policy approved this request: [meshid-ca: spec.isCA not allowed])',
    });
    expect(standin.deleted).toContain(name);
    expect(await registry.getSingleMetricAsString('meshid_ca_upstream_failures_total')).toContain(
      'meshid_ca_upstream_failures_total{upstream="cert-manager",reason="cert_manager_denied"} 1',
    );
  });

  it('failed: a clear FAILED_PRECONDITION with the issuer\'s message, request deleted', async () => {
    standin.behaviour = 'fail';
    const result = await failure(mint(await started()));
    const name = standin.created.at(-1)!.metadata.name;
    expect(result).toEqual({
      code: 'FAILED_PRECONDITION',
      message: `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for Issuer "mesh-ca" failed (Failed: Failed to sign certificate: the CA key pair secret is missing)`,
    });
    expect(standin.deleted).toContain(name);
  });

  it('timeout: UNAVAILABLE with the last pending state once the deadline passes, request deleted', async () => {
    standin.behaviour = 'ignore';
    const a = await started({ timeoutMs: 1000 });
    const startedAt = Date.now();
    const result = await failure(mint(a));
    const elapsed = Date.now() - startedAt;
    const name = standin.created.at(-1)!.metadata.name;
    expect(result).toEqual({
      code: 'UNAVAILABLE',
      message: `cert-manager upstream authority: CertificateRequest ${NAMESPACE}/${name} for Issuer "mesh-ca" was not issued within 1 s (Pending: Referenced "Issuer" not found: issuer "mesh-ca" not found)`,
    });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(3000);
    expect(standin.deleted).toContain(name);
    console.log(`cert-manager timeout (1 s configured) reported after ${elapsed} ms`);
  });

  it('tells listeners when the issuer\'s root changes', async () => {
    const a = await started();
    await mint(a);
    const rootsChanged = nextCall((l: (roots: x509.X509Certificate[]) => void) => a.onRootsChanged(l));
    const other = await makeOperatorPki({ name: 'NewCo' });
    standin.issuer = { issuer: other.enterprise, intermediates: [other.enterprise.certificate], root: other.root.certificate };
    await mint(a);
    const [roots] = await rootsChanged;
    expect(roots.map(fingerprint)).toEqual([fingerprint(other.root.certificate)]);
  });

  it('rejected or unauthorized API credentials: PERMISSION_DENIED naming the API server and the fix, without the token', async () => {
    const rejected = await failure(mint(await started({ kubeconfig: await standin.writeKubeconfig(work, 'not-the-token') })));
    expect(rejected).toEqual({
      code: 'PERMISSION_DENIED',
      message: `cert-manager upstream authority: creating a CertificateRequest in ${standin.url} failed: HTTP 401; check meshid's kubeconfig or service-account token`,
    });
    const forbidden = await failure(mint(await started({ kubeconfig: await standin.writeKubeconfig(work, standin.forbiddenToken) })));
    expect(forbidden).toEqual({
      code: 'PERMISSION_DENIED',
      message:
        `cert-manager upstream authority: creating a CertificateRequest in ${standin.url} failed: HTTP 403: certificaterequests.cert-manager.io ` +
        `is forbidden: User "system:serviceaccount:meshid-system:meshid-ca" cannot create resource "certificaterequests" in API group ` +
        `"cert-manager.io" in the namespace "meshid-system"; grant meshid create, get and delete on certificaterequests.cert-manager.io in meshid-system`,
    });
    expect(forbidden.message).not.toContain(standin.forbiddenToken);
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

  it('roots a full CA server: SVIDs verify against the issuer\'s root', async () => {
    const ca = await CaFixture.start({
      kubernetes: 'jwt',
      config: { ca: { upstream: { type: 'cert-manager', namespace: NAMESPACE, issuerName: 'mesh-ca', kubeconfig } } },
    });
    const token = await ca.saToken('shop', 'web');
    const client = ca.istioClient({ bearer: () => token });
    try {
      const { csr } = await newCsr();
      const { cert_chain: chain } = await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 });
      expect(chain.at(-1)).toBe(pem(pki.root.certificate));
      const files = { root: path.join(work, 'svid-root.pem'), chain: path.join(work, 'svid-chain.pem'), leaf: path.join(work, 'leaf.pem') };
      await writeFile(files.root, chain.at(-1)!);
      await writeFile(files.chain, chain.slice(1, -1).join(''));
      await writeFile(files.leaf, chain[0]!);
      const { stdout } = await run(openssl, ['verify', '-x509_strict', '-CAfile', files.root, '-untrusted', files.chain, files.leaf]);
      expect(stdout.trim()).toBe(`${files.leaf}: OK`);
    } finally {
      client.close();
      await ca.close();
    }
  });
});
