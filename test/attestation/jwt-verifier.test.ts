// Offline (jwt mode) verification. Most cases sign with a test issuer (JwtIssuer): forged signatures, alg none,
// HS256, other algorithms, claims that disagree with sub, a non-numeric exp, tokens without exp... are tokens
// the real API server never mints. Discovery, the JWKS and key rotation run against a real kube-apiserver.
import { mkdtempSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createJwtVerifier,
  JwtServiceAccountVerifier,
  VERIFIED_TOKEN_MAX_MS,
  type JwtVerifierConfig,
} from '../../plugins/attestor/k8s-jwt/jwt-verifier.js';
import { jwksFromFile } from '../../plugins/attestor/k8s-jwt/jwks-file.js';
import { httpsFetch } from '../../plugins/attestor/k8s-jwt/https-fetch.js';
import { KubeCluster, type CreatedPod } from '../peers/kube-cluster.js';
import { hs256Token, JwtIssuer, unsignedToken, type IssuerAlgorithm } from '../support/jwt-issuer.js';
import { eventually } from '../support/kube-observe.js';
import { expectNoTokenText, expectTokenRejected, rejection } from './token-assertions.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUDIENCES = ['meshid'];
const POD = { name: 'web-7d4b9', uid: 'c0ffee00-0000-4000-8000-000000000001' };
const NODE = { name: 'worker-1', uid: 'c0ffee00-0000-4000-8000-000000000002' };

let dir: string;
let issuer: JwtIssuer;
let jwksFile: string;
let verifier: JwtServiceAccountVerifier;

const mint = (over: Partial<Parameters<JwtIssuer['mintServiceAccountToken']>[0]> = {}, by = issuer) =>
  by.mintServiceAccountToken({ namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES, pod: POD, node: NODE, ...over });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-jwt-'));
  issuer = await JwtIssuer.create({ issuer: ISSUER });
  jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(issuer.jwks()));
  verifier = await createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('offline JWT verification: accepted tokens', () => {
  it('fills the identity from sub and the kubernetes.io claims', async () => {
    const token = await mint({ lifetimeSeconds: 600 });
    const identity = await verifier.verify(token);
    expect(identity).toMatchObject({
      namespace: 'shop',
      serviceAccount: 'web',
      podName: POD.name,
      podUid: POD.uid,
      nodeName: NODE.name,
      nodeUid: NODE.uid,
    });
    expect(Math.abs(identity.expiresAt!.getTime() - (Date.now() + 600_000))).toBeLessThan(5_000);
  });

  it.each<IssuerAlgorithm>(['ES256', 'ES384', 'PS256', 'RS512'])('accepts %s-signed tokens', async (alg) => {
    const other = await JwtIssuer.create({ issuer: ISSUER, alg });
    const file = path.join(dir, `jwks-${alg}.json`);
    await writeFile(file, JSON.stringify(other.jwks()));
    const v = await createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile: file });
    await expect(v.verify(await mint({}, other))).resolves.toMatchObject({ namespace: 'shop', serviceAccount: 'web' });
  });

  it('accepts a token whose aud lists one accepted audience among others', async () => {
    await expect(verifier.verify(await mint({ audiences: ['vault', 'meshid'] }))).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it('tolerates 30 s of clock skew on exp and nbf', async () => {
    const now = Date.now();
    const justExpired = await mint({ issuedAt: new Date(now - 3600_000), expiresAt: new Date(now - 10_000) });
    const almostValid = await mint({ issuedAt: new Date(now), notBefore: new Date(now + 10_000) });
    await expect(verifier.verify(justExpired)).resolves.toMatchObject({ serviceAccount: 'web' });
    await expect(verifier.verify(almostValid)).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it('accepts a token without pod and node claims (service account only)', async () => {
    const identity = await verifier.verify(await mint({ pod: undefined, node: undefined }));
    expect(identity.podName).toBeUndefined();
    expect(identity.nodeName).toBeUndefined();
  });
});

describe('offline JWT verification: the token error taxonomy', () => {
  it('missing token', async () => {
    await expectTokenRejected(verifier.verify(''), 'token_missing', '');
    await expectTokenRejected(verifier.verify('   '), 'token_missing', '   ');
  });

  it.each([
    ['not a JWT', 'definitely-not-a-jwt-but-a-long-secret-value'],
    ['two parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0'],
    ['header is not JSON', 'bm90LWpzb24tYXQtYWxsLWF0LWFsbA.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['payload is an array', `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('[1,2,3]').toString('base64url')}.c2lnbmF0dXJlLXNpZ25hdHVyZQ`],
    ['oversized', `eyJhbGciOiJSUzI1NiJ9.${'A'.repeat(17_000)}.c2ln`],
  ])('malformed: %s', async (_name, token) => {
    await expectTokenRejected(verifier.verify(token), 'token_malformed', token);
  });

  it('malformed: a non-numeric exp', async () => {
    const token = await issuer.sign({ iss: ISSUER, sub: 'system:serviceaccount:shop:web', aud: AUDIENCES, exp: 'tomorrow' as unknown as number });
    const err = await expectTokenRejected(verifier.verify(token), 'token_malformed', token);
    expect(err.message).toContain('exp claim is not a number');
  });

  it('bad signature: a forger signing with its own key under the issuer\'s key id', async () => {
    const forger = await JwtIssuer.create({ issuer: ISSUER, kid: issuer.kid });
    const token = await mint({}, forger);
    const err = await expectTokenRejected(verifier.verify(token), 'token_bad_signature', token);
    expect(err.message).toContain('does not verify');
  });

  it('bad signature: a key id the issuer does not have', async () => {
    const stranger = await JwtIssuer.create({ issuer: ISSUER });
    const token = await mint({}, stranger);
    const err = await expectTokenRejected(verifier.verify(token), 'token_bad_signature', token);
    expect(err.message).toContain(stranger.kid);
  });

  it('bad signature: a payload altered after signing', async () => {
    const [header, , signature] = (await mint()).split('.');
    const payload = Buffer.from(
      JSON.stringify({ iss: ISSUER, sub: 'system:serviceaccount:kube-system:admin', aud: AUDIENCES, exp: Math.floor(Date.now() / 1000) + 600 }),
    ).toString('base64url');
    const token = `${header}.${payload}.${signature}`;
    await expectTokenRejected(verifier.verify(token), 'token_bad_signature', token);
  });

  it('unsupported alg: a hand-built alg "none" token', async () => {
    const token = unsignedToken({ iss: ISSUER, sub: 'system:serviceaccount:shop:web', aud: AUDIENCES, exp: Math.floor(Date.now() / 1000) + 600 });
    const err = await expectTokenRejected(verifier.verify(token), 'token_unsupported_alg', token);
    expect(err.message).toContain('"none"');
    expect(err.message).toContain('RS256');
  });

  it('unsupported alg: an HS256 token (shared secret)', async () => {
    const token = await hs256Token({ iss: ISSUER, sub: 'system:serviceaccount:shop:web', aud: AUDIENCES, exp: Math.floor(Date.now() / 1000) + 600 });
    const err = await expectTokenRejected(verifier.verify(token), 'token_unsupported_alg', token);
    expect(err.message).toContain('"HS256"');
  });

  it('wrong issuer', async () => {
    const token = await mint({ issuer: 'https://other-cluster.example' });
    const err = await expectTokenRejected(verifier.verify(token), 'token_wrong_issuer', token);
    expect(err.message).toContain('https://other-cluster.example');
    expect(err.message).toContain(ISSUER);
  });

  it('wrong audience', async () => {
    const token = await mint({ audiences: ['https://kubernetes.default.svc'] });
    const err = await expectTokenRejected(verifier.verify(token), 'token_wrong_audience', token);
    expect(err.message).toContain('meshid');
  });

  it('expired', async () => {
    const now = Date.now();
    const token = await mint({ issuedAt: new Date(now - 7200_000), expiresAt: new Date(now - 60_000) });
    const err = await expectTokenRejected(verifier.verify(token), 'token_expired', token);
    expect(err.message).toContain('expired at');
  });

  it('expired according to the verifier clock even when the pre-check passes at signing time', async () => {
    const token = await mint({ lifetimeSeconds: 600 });
    const later = new JwtServiceAccountVerifier({
      issuer: ISSUER,
      audiences: AUDIENCES,
      keys: (await jwksFromFile(jwksFile)).keys,
      now: () => Date.now() + 3600_000,
    });
    await expectTokenRejected(later.verify(token), 'token_expired', token);
  });

  it('not yet valid', async () => {
    const now = Date.now();
    const token = await mint({ issuedAt: new Date(now), notBefore: new Date(now + 600_000) });
    const err = await expectTokenRejected(verifier.verify(token), 'token_not_yet_valid', token);
    expect(err.message).toContain('clocks');
  });

  it.each([
    ['a user', 'alice@example.com'],
    ['a node', 'system:node:worker-1'],
    ['a service account without a name', 'system:serviceaccount:shop'],
    ['a service account with an extra part', 'system:serviceaccount:shop:web:extra'],
    ['an invalid namespace', 'system:serviceaccount:Shop_NS:web'],
  ])('not a service-account subject: %s', async (_name, subject) => {
    const token = await mint({ subject });
    await expectTokenRejected(verifier.verify(token), 'token_not_service_account', token);
  });

  it('refuses a token without exp (no offline bound on its life)', async () => {
    const token = await mint({ noExpiry: true });
    const err = await expectTokenRejected(verifier.verify(token), 'token_malformed', token);
    expect(err.message).toContain('exp');
  });

  it('refuses kubernetes.io claims that disagree with sub', async () => {
    const token = await mint({
      kubernetesClaims: { namespace: 'kube-system', serviceaccount: { name: 'web', uid: 'u1' } },
    });
    const err = await expectTokenRejected(verifier.verify(token), 'token_malformed', token);
    expect(err.message).toContain('kubernetes.io.namespace');
  });
});

describe('offline JWT verification: key sources', () => {
  it('reloads the JWKS file when it changes (key rotation without restart)', async () => {
    const file = path.join(dir, 'rotating.json');
    const oldKey = await JwtIssuer.create({ issuer: ISSUER });
    const newKey = await JwtIssuer.create({ issuer: ISSUER });
    await writeFile(file, JSON.stringify(oldKey.jwks()));
    const v = await createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile: file });
    const oldToken = await mint({}, oldKey);
    const newToken = await mint({}, newKey);
    await expect(v.verify(oldToken)).resolves.toMatchObject({ serviceAccount: 'web' });
    await expectTokenRejected(v.verify(newToken), 'token_bad_signature', newToken);

    // Replace atomically, as a ConfigMap update does.
    await writeFile(`${file}.new`, JSON.stringify(newKey.jwks()));
    await rename(`${file}.new`, file);
    await expect(v.verify(newToken)).resolves.toMatchObject({ serviceAccount: 'web' });
    await expectTokenRejected(v.verify(oldToken), 'token_bad_signature', oldToken);
  });

  it('fails start-up with UNAVAILABLE when the JWKS file is missing or not a key set', async () => {
    const missing = await rejection(createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile: path.join(dir, 'nope.json') }));
    expect(missing).toMatchObject({ code: 'UNAVAILABLE', reason: 'jwks_unavailable' });
    expect(missing.message).toContain('ENOENT');
    const garbage = path.join(dir, 'garbage.json');
    await writeFile(garbage, '{"not":"keys"}');
    const bad = await rejection(createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile: garbage }));
    expect(bad.message).toContain('not a JSON Web Key Set');
  });

  it('needs exactly one key source, an issuer and an audience', async () => {
    await expect(createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, jwksFile, oidcDiscoveryUrl: 'https://x.example' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(createJwtVerifier({ issuer: ISSUER, audiences: [], jwksFile })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(createJwtVerifier({ issuer: '', audiences: AUDIENCES, jwksFile })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

// The API server's own discovery document and JWKS, with tokens from its TokenRequest API.
describe('offline JWT verification: OIDC discovery and JWKS of a real API server', () => {
  let cluster: KubeCluster;
  let pod: CreatedPod;
  let node: { uid: string };

  const podToken = () => cluster.podToken(pod, AUDIENCES);
  const discoveryVerifier = (over: Partial<JwtVerifierConfig> = {}) =>
    createJwtVerifier({ issuer: cluster.issuer, audiences: AUDIENCES, oidcDiscoveryUrl: cluster.url, caFile: cluster.caFile, ...over });
  const podIdentity = () => ({ namespace: 'shop', serviceAccount: 'web', podName: pod.name, podUid: pod.uid, nodeName: 'worker-1', nodeUid: node.uid });

  // meshid reads discovery and the JWKS without credentials; the API server allows that only with this binding.
  const ANONYMOUS_DISCOVERY = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'meshid-test-oidc-discovery' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
  };

  /** Grants or revokes anonymous access to discovery, and waits until the API server enforces it. */
  async function anonymousDiscovery(allowed: boolean): Promise<void> {
    if (allowed) await cluster.apply(ANONYMOUS_DISCOVERY);
    else await cluster.call('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ANONYMOUS_DISCOVERY.metadata.name}`);
    const anonymous = httpsFetch(cluster.caPem);
    await eventually(`anonymous discovery ${allowed ? 'allowed' : 'refused'}`, async () => {
      const res = await anonymous(`${cluster.url}/.well-known/openid-configuration`, {});
      return (res.status === 200) === allowed;
    });
  }

  beforeAll(async () => {
    cluster = await KubeCluster.start();
    pod = await cluster.createPod({ namespace: 'shop', name: 'web-1', serviceAccount: 'web', nodeName: 'worker-1' });
    node = await cluster.createNode('worker-1');
  });
  afterAll(() => cluster?.stop());

  it('is UNAVAILABLE, naming the binding it needs, until anonymous clients may read discovery; then verifies', async () => {
    const v = await discoveryVerifier();
    const token = await podToken();
    const err = await rejection(v.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'jwks_unavailable' });
    expect(err.message).toBe(
      `cannot read the OIDC discovery document ${cluster.url}/.well-known/openid-configuration (HTTP 403; it must be readable ` +
        'without credentials: on Kubernetes, bind the ClusterRole system:service-account-issuer-discovery to the Group system:unauthenticated)',
    );
    expectNoTokenText(err, token);

    await anonymousDiscovery(true);
    // The same verifier: a failed discovery is retried on the next verification.
    await expect(v.verify(token)).resolves.toMatchObject(podIdentity());
  });

  it('fetches the key set once: later tokens verify even after anonymous access is revoked', async () => {
    const v = await discoveryVerifier();
    await expect(v.verify(await podToken())).resolves.toMatchObject(podIdentity());
    await anonymousDiscovery(false);
    try {
      for (let i = 0; i < 3; i++) await expect(v.verify(await podToken())).resolves.toMatchObject({ serviceAccount: 'web' });
    } finally {
      await anonymousDiscovery(true);
    }
  });

  it('accepts the full discovery URL as well as the issuer base URL', async () => {
    const v = await discoveryVerifier({ oidcDiscoveryUrl: `${cluster.url}/.well-known/openid-configuration` });
    await expect(v.verify(await podToken())).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it('verifies with the JWKS the API server serves, saved to a file (kubernetes.jwksFile)', async () => {
    const file = path.join(dir, 'cluster-jwks.json');
    await writeFile(file, JSON.stringify(await cluster.call('GET', '/openid/v1/jwks')));
    const v = await createJwtVerifier({ issuer: cluster.issuer, audiences: AUDIENCES, jwksFile: file });
    await expect(v.verify(await podToken())).resolves.toMatchObject(podIdentity());
  });

  it('is UNAVAILABLE (not a token verdict) when the server certificate is not trusted', async () => {
    const v = await discoveryVerifier({ caFile: undefined });
    const token = await podToken();
    const err = await rejection(v.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'jwks_unavailable' });
    expect(err.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
    expectNoTokenText(err, token);
  });

  it('refuses a discovery document that names another issuer', async () => {
    const other = 'https://not-this-cluster.example';
    const v = await discoveryVerifier({ issuer: other });
    // A test-issued token: it only has to name the configured issuer to get as far as discovery.
    const token = await mint({ issuer: other });
    const err = await rejection(v.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'jwks_unavailable' });
    expect(err.message).toContain(`names issuer "${cluster.issuer}", but kubernetes.issuer is "${other}"`);
  });

  it('refuses a plain-http discovery URL at start-up', async () => {
    await expect(
      createJwtVerifier({ issuer: ISSUER, audiences: AUDIENCES, oidcDiscoveryUrl: 'http://kubernetes.default.svc' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  // jose's remote key set (behind jwksFromDiscovery) refetches for an unknown key id at most every 30 s and
  // otherwise every 10 min, timed with Date. These tests freeze Date once the keys are fetched and then move it
  // on, so those windows neither depend on how long the API server takes to restart nor have to be waited out.
  describe('service-account signing-key rotation on the API server', () => {
    const kidOf = (token: string) => decodeProtectedHeader(token).kid!;

    /** A verifier that has fetched the current key set, with Date frozen from then on. */
    async function verifierWithKeysFetched(): Promise<JwtServiceAccountVerifier> {
      const v = await discoveryVerifier();
      await expect(v.verify(await podToken())).resolves.toMatchObject({ serviceAccount: 'web' });
      vi.useFakeTimers({ toFake: ['Date'] });
      return v;
    }

    const advanceDate = (ms: number) => vi.setSystemTime(Date.now() + ms);

    afterEach(() => {
      vi.useRealTimers();
    });

    it('accepts tokens signed with the new key once the key set may be refetched, and those of the old key still', async () => {
      const v = await verifierWithKeysFetched();
      const oldKey = await podToken();
      await cluster.rotateSigningKey();
      const newKey = await podToken();
      expect(kidOf(newKey)).not.toBe(kidOf(oldKey));

      const early = await expectTokenRejected(v.verify(newKey), 'token_bad_signature', newKey);
      expect(early.message).toContain(`key id "${kidOf(newKey)}"`);
      advanceDate(31_000);
      await expect(v.verify(newKey)).resolves.toMatchObject(podIdentity());
      await expect(v.verify(oldKey)).resolves.toMatchObject(podIdentity());
    });

    it('refuses tokens of a key the API server dropped once the cached key set lapses', async () => {
      const v = await verifierWithKeysFetched();
      const [staleEarly, staleLate] = [await podToken(), await podToken()];
      await cluster.rotateSigningKey({ dropPrevious: true });

      // Until then meshid still trusts the dropped key.
      await expect(v.verify(staleEarly)).resolves.toMatchObject({ serviceAccount: 'web' });
      advanceDate(10 * 60_000 + 1000);
      const err = await expectTokenRejected(v.verify(staleLate), 'token_bad_signature', staleLate);
      expect(err.message).toContain(`the issuer has no RS256 key with key id "${kidOf(staleLate)}"`);
      await expect(v.verify(await podToken())).resolves.toMatchObject(podIdentity());
    });
  });
});

describe('offline JWT verification: verified tokens are remembered', () => {
  it('verifies a repeated token once per key-set generation', async () => {
    const source = await jwksFromFile(jwksFile);
    let lookups = 0;
    let generation = 'g1';
    const v = new JwtServiceAccountVerifier({
      issuer: ISSUER,
      audiences: AUDIENCES,
      keys: (header, token) => {
        lookups++;
        return source.keys(header, token);
      },
      keysGeneration: () => generation,
    });
    const token = await mint();
    for (let i = 0; i < 5; i++) await expect(v.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
    expect(lookups).toBe(1);
    generation = 'g2';
    await v.verify(token);
    expect(lookups).toBe(2);
  });

  it('without a generation, reuses a verification for at most VERIFIED_TOKEN_MAX_MS', async () => {
    const source = await jwksFromFile(jwksFile);
    let lookups = 0;
    let now = Date.now();
    const v = new JwtServiceAccountVerifier({
      issuer: ISSUER,
      audiences: AUDIENCES,
      keys: (header, token) => {
        lookups++;
        return source.keys(header, token);
      },
      now: () => now,
    });
    const token = await mint({ lifetimeSeconds: 3600 });
    await v.verify(token);
    now += VERIFIED_TOKEN_MAX_MS - 1000;
    await v.verify(token);
    expect(lookups).toBe(1);
    now += 2000;
    await v.verify(token);
    expect(lookups).toBe(2);
  });
});
