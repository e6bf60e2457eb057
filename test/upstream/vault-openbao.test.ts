import { fingerprint } from '../../core/x509/chain.js';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaCsrPem } from '../../ca-server/authority/ca-csr.js';
import { readCaServerConfig } from '../../ca-server/config.js';
import { startCaServer } from '../../ca-server/server.js';
import { rotationSchedule } from '../../ca-server/authority/schedule.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { MintX509CaResult } from '../../plugins/api/upstream-authority.js';
import type { VaultAuthSettings } from '../../plugins/upstream/vault/config.js';
import { VaultAuthority } from '../../plugins/upstream/vault/vault-authority.js';
import { CaFixture, newCsr, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { requirePeer } from '../peers/peers.js';
import { eventually, tokenReviewCounter } from '../support/kube-observe.js';
import { LogEvents } from './log-events.js';
import { OpenBao, type AppRoleCredentials } from './openbao.js';
import { pem } from './operator-pki.js';

const run = promisify(execFile);
const td = TrustDomain.parse(TRUST_DOMAIN);
const SIGN_POLICY = 'path "pki/root/sign-intermediate" { capabilities = ["update"] }';
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );

let openssl: string;
let work: string;
let bao: OpenBao;
let baoRootPem: string;
let appRole: AppRoleCredentials;
const authorities: VaultAuthority[] = [];

beforeAll(async () => {
  openssl = requirePeer('openssl');
  work = await mkdtemp(path.join(tmpdir(), 'meshid-vault-'));
  const started = Date.now();
  bao = await OpenBao.start();
  console.log(`OpenBao dev server ready in ${Date.now() - started} ms`);
  baoRootPem = await bao.enablePkiRoot();
  await bao.putPolicy('meshid-ca', SIGN_POLICY);
  appRole = await bao.appRole('meshid', { token_policies: ['meshid-ca'], token_ttl: '1h' });
});

afterAll(async () => {
  for (const a of authorities.splice(0)) await a.close();
  await bao?.stop();
  await rm(work, { recursive: true, force: true });
});

function vaultAuthority(auth: VaultAuthSettings, over: { pkiMount?: string; logs?: LogEvents; registry?: Registry; address?: string } = {}) {
  const authority = new VaultAuthority(
    { address: over.address ?? bao.address, pkiMount: over.pkiMount, trustDomain: td, auth },
    { log: (over.logs ?? new LogEvents()).logger, registry: over.registry },
  );
  authorities.push(authority);
  return authority;
}

async function mint(authority: VaultAuthority, ttlSeconds = 3600): Promise<MintX509CaResult> {
  const keys = generateKeyPair();
  const csrPem = await createCaCsrPem({ ...keys, subject: `O=meshid, CN=meshid intermediate ${td.name}`, trustDomain: td });
  return authority.mintX509Ca({ csrPem, trustDomain: td, preferredTtlSeconds: ttlSeconds });
}

/** OpenBao's token_reviewer_jwt: a real token of a service account bound to system:auth-delegator (may create tokenreviews). */
async function tokenReviewerJwt(cluster: KubeCluster): Promise<string> {
  const account = { namespace: 'openbao', name: 'token-reviewer' };
  await cluster.createServiceAccount(account.namespace, account.name);
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'openbao-token-reviewer' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', ...account }],
  };
  await cluster.apply(binding);
  await eventually('the ClusterRoleBinding to take effect', () =>
    cluster.can(
      { username: `system:serviceaccount:${account.namespace}:${account.name}` },
      { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
    ),
  );
  return cluster.requestToken(account.namespace, account.name, { audiences: [cluster.issuer] });
}

async function writeTemp(name: string, content: string): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

describe('vault upstream authority against a real OpenBao', () => {
  it('has meshid\'s CA signed by OpenBao via AppRole: trust domain URI SAN, pathLen 0, AKI = root SKI', async () => {
    const authority = vaultAuthority({ method: 'approle', roleId: appRole.roleId, secretIdFile: await writeTemp('secret-id', `${appRole.secretId}\n`) });
    await authority.start();
    const result = await mint(authority, 7200);
    const root = new x509.X509Certificate(baoRootPem);
    expect(result.upstreamRoots.map(fingerprint)).toEqual([fingerprint(root)]);
    expect(result.x509CaChain).toHaveLength(1);
    const [ca] = result.x509CaChain;
    expect(ca!.subject).toBe(`CN=meshid intermediate ${td.name}`);
    expect(ca!.issuer).toBe(root.subject);
    expect(ca!.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => `${n.type}:${n.value}`)).toEqual([`url:${td.id}`]);
    const basic = ca!.getExtension(x509.BasicConstraintsExtension)!;
    expect([basic.ca, basic.pathLength]).toEqual([true, 0]);
    expect(ca!.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(root.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    expect(Math.round((ca!.notAfter.getTime() - Date.now()) / 60_000)).toBe(120);
    const files = { root: await writeTemp('bao-root.pem', baoRootPem), ca: await writeTemp('ca.pem', pem(ca!)) };
    expect((await run(openssl, ['verify', '-x509_strict', '-CAfile', files.root, files.ca])).stdout.trim()).toBe(`${files.ca}: OK`);
  });

  it('authenticates with a token from a file (what Vault Agent writes)', async () => {
    const token = await bao.api('POST', 'auth/token/create', { policies: ['meshid-ca'], ttl: '1h' });
    const tokenFile = await writeTemp('token', (token.auth as { client_token: string }).client_token);
    const authority = vaultAuthority({ method: 'token', tokenFile });
    await authority.start();
    expect((await mint(authority)).upstreamRoots).toHaveLength(1);
  });

  it('renews a short-lived AppRole token and logs in again at its max TTL', async () => {
    const short = await bao.appRole('meshid-short', { token_policies: ['meshid-ca'], token_ttl: '2s', token_max_ttl: '4s' });
    const logs = new LogEvents();
    const renewed = logs.next('Vault token renewed');
    const relogged = logs.next('logged in to Vault again');
    const authority = vaultAuthority({ method: 'approle', ...short }, { logs });
    const started = Date.now();
    await authority.start();
    await renewed;
    await relogged;
    console.log(`vault token: renewed, then logged in again after ${Date.now() - started} ms (token_ttl 2s, max 4s)`);
    expect((await mint(authority)).upstreamRoots).toHaveLength(1);
  });

  describe('Kubernetes auth, reviewed by a real kube-apiserver', () => {
    let cluster: KubeCluster;

    beforeAll(async () => {
      cluster = await KubeCluster.start();
    });
    afterAll(() => cluster?.stop());

    it('logs in with the service-account token OpenBao reviews with the API server; refuses another account', async () => {
      await bao.api('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
      await bao.api('POST', 'auth/kubernetes/config', {
        kubernetes_host: cluster.url,
        kubernetes_ca_cert: cluster.caPem,
        token_reviewer_jwt: await tokenReviewerJwt(cluster),
        disable_local_ca_jwt: true,
      });
      await bao.api('POST', 'auth/kubernetes/role/meshid', {
        bound_service_account_names: ['meshid-ca'],
        bound_service_account_namespaces: ['meshid-system'],
        audience: 'vault',
        token_policies: ['meshid-ca'],
        token_ttl: '1h',
      });
      await cluster.createServiceAccount('meshid-system', 'meshid-ca');
      const jwt = await cluster.requestToken('meshid-system', 'meshid-ca', { audiences: ['vault'] });
      const reviews = await tokenReviewCounter(cluster);
      const authority = vaultAuthority({ method: 'kubernetes', role: 'meshid', tokenFile: await writeTemp('sa-token', jwt) });
      await authority.start();
      expect((await mint(authority)).upstreamRoots).toHaveLength(1);
      expect(await reviews()).toBe(1);

      await cluster.createServiceAccount('shop', 'web');
      const stranger = await cluster.requestToken('shop', 'web', { audiences: ['vault'] });
      const denied = await failure(vaultAuthority({ method: 'kubernetes', role: 'meshid', tokenFile: await writeTemp('sa-other', stranger) }).start());
      expect(denied.code).toBe('PERMISSION_DENIED');
      expect(denied.message).toContain(`Kubernetes login as role "meshid" (auth/kubernetes/login) at ${bao.address} failed: HTTP 403`);
      expect(denied.message).not.toContain(stranger);
    });
  });

  describe('failures are clear errors with the right code', () => {
    it('wrong AppRole credentials: PERMISSION_DENIED at start, without the secret', async () => {
      const result = await failure(vaultAuthority({ method: 'approle', roleId: appRole.roleId, secretId: 'not-the-secret-id' }).start());
      expect(result).toEqual({
        code: 'PERMISSION_DENIED',
        message: `vault upstream authority: AppRole login (auth/approle/login) at ${bao.address} failed: HTTP 400: invalid role or secret ID`,
      });
    });

    it('a token the policy does not allow to sign: PERMISSION_DENIED naming the path, counted in the metrics', async () => {
      await bao.putPolicy('read-only', 'path "pki/cert/ca" { capabilities = ["read"] }');
      const token = await bao.api('POST', 'auth/token/create', { policies: ['read-only'], ttl: '1h' });
      const registry = new Registry();
      const authority = vaultAuthority({ method: 'token', token: (token.auth as { client_token: string }).client_token }, { registry });
      await authority.start();
      const result = await failure(mint(authority));
      expect(result.code).toBe('PERMISSION_DENIED');
      expect(result.message).toContain(`signing meshid's CA (POST pki/root/sign-intermediate) at ${bao.address} failed: HTTP 403: permission denied`);
      expect(await registry.getSingleMetricAsString('meshid_ca_upstream_failures_total')).toContain(
        'meshid_ca_upstream_failures_total{upstream="vault",reason="vault_denied"} 1',
      );
    });

    it('a missing PKI mount: FAILED_PRECONDITION pointing at the mount path', async () => {
      const authority = vaultAuthority({ method: 'token', token: bao.rootToken }, { pkiMount: 'pki-missing' });
      await authority.start();
      const result = await failure(mint(authority));
      expect(result.code).toBe('FAILED_PRECONDITION');
      expect(result.message).toMatch(/POST pki-missing\/root\/sign-intermediate\) .* failed: HTTP 404: .*check the mount path/);
    });

    it('an unreachable Vault does not fail the start (restart during an outage), but fails the mint with UNAVAILABLE', async () => {
      const logs = new LogEvents();
      const unreachable = `http://127.0.0.1:${await closedPort()}`;
      const authority = vaultAuthority({ method: 'approle', ...appRole }, { address: unreachable, logs });
      await authority.start();
      expect(logs.text()).toContain('Vault is unreachable; will authenticate when a signing CA is needed');
      expect(await failure(mint(authority))).toEqual({
        code: 'UNAVAILABLE',
        message: `vault upstream authority: AppRole login (auth/approle/login) at ${unreachable} failed: cannot reach Vault (ECONNREFUSED)`,
      });
    });

    it('bad settings, naming them', async () => {
      const token = { method: 'token', token: 't' } as const;
      expect(await failure(vaultAuthority(token, { address: 'http://vault.acme.test:8200' }).start())).toEqual({
        code: 'INVALID_ARGUMENT',
        message: "vault upstream authority: address must use https: plain http would send meshid's Vault token in the clear (allowed only to loopback)",
      });
      expect((await failure(vaultAuthority(token, { address: 'vault:8200' }).start())).message).toContain('address must be an http(s) URL');
      expect((await failure(vaultAuthority(token, { pkiMount: 'pki/../x' }).start())).message).toContain('pkiMount must be a mount path');
    });
  });
});

describe('CA server with ca.upstream vault (OpenBao)', () => {
  let server: OpenBao;
  let ca: CaFixture;
  let rootFile: string;

  beforeAll(async () => {
    server = await OpenBao.start();
    rootFile = await writeTemp('server-bao-root.pem', await server.enablePkiRoot('pki', 'OpenBao Mesh Root'));
    await server.putPolicy('meshid-ca', SIGN_POLICY);
  });
  afterAll(async () => {
    await ca?.close();
    await server?.stop();
  });

  const upstreamConfig = (credentials: AppRoleCredentials) => ({
    type: 'vault',
    address: server.address,
    auth: { method: 'approle', roleId: credentials.roleId, secretId: credentials.secretId },
  });

  it('refuses to start with wrong credentials, saying so', async () => {
    const { roleId } = await server.appRole('meshid', { token_policies: ['meshid-ca'] });
    const dataDir = path.join(work, 'wrong-credentials');
    const config = readCaServerConfig({
      trustDomain: TRUST_DOMAIN,
      dataDir,
      listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dataDir, 'admin.sock') },
      ca: { upstream: upstreamConfig({ roleId, secretId: 'wrong' }) },
    });
    await expect(startCaServer(config, new LogEvents().logger)).rejects.toThrow(
      `vault upstream authority: AppRole login (auth/approle/login) at ${server.address} failed: HTTP 400: invalid role or secret ID`,
    );
  });

  it('issues SVIDs that openssl verifies against OpenBao\'s root, and keeps issuing after OpenBao stops', async () => {
    const credentials = await server.appRole('meshid', { token_policies: ['meshid-ca'] });
    const started = Date.now();
    ca = await CaFixture.start({ kubernetes: 'jwt', config: { ca: { upstream: upstreamConfig(credentials) } } });
    console.log(`CA server with the OpenBao upstream started in ${Date.now() - started} ms`);
    expect(ca.bundlePem()).toBe(pem(new x509.X509Certificate(await readFile(rootFile, 'utf8'))));
    const token = await ca.saToken('shop', 'web');
    const client = ca.istioClient({ bearer: () => token });
    const issueAndVerify = async (name: string) => {
      const { csr } = await newCsr();
      const { cert_chain: chain } = await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 });
      const leaf = await writeTemp(`${name}-leaf.pem`, chain[0]!);
      const untrusted = await writeTemp(`${name}-chain.pem`, chain.slice(1, -1).join(''));
      return (await run(openssl, ['verify', '-x509_strict', '-CAfile', rootFile, '-untrusted', untrusted, leaf])).stdout.trim();
    };
    try {
      expect(await issueAndVerify('before')).toMatch(/before-leaf\.pem: OK$/);

      await server.stop();
      expect(await issueAndVerify('after-stop')).toMatch(/after-stop-leaf\.pem: OK$/);
      // The next signing CA is due but OpenBao is gone: the rotation step fails clearly, signing goes on.
      const prepareAt = rotationSchedule(ca.server.authorities.active().certificate).prepareAt;
      const rotation = await failure(ca.server.authorities.rotateIntermediateIfDue(new Date(prepareAt.getTime() + 1000)));
      expect(rotation.code).toBe('UNAVAILABLE');
      expect(rotation.message).toBe(
        `vault upstream authority: signing meshid's CA (POST pki/root/sign-intermediate) at ${server.address} failed: cannot reach Vault (ECONNREFUSED)`,
      );
      expect(await issueAndVerify('after-failed-rotation')).toMatch(/OK$/);
      const metrics = await (await fetch(`${ca.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/meshid_ca_upstream_failures_total\{upstream="vault",reason="vault_unreachable"\} [1-9]/);
    } finally {
      client.close();
    }
  });
});

/** A loopback port nothing listens on (bound once, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
