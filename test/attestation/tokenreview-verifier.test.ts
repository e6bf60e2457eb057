// TokenReview attestation against a real kube-apiserver (test/peers/kube-cluster.ts) with real TokenRequest
// tokens; reviews are counted by the API server's own metrics. The last describe block keeps the stand-in for
// the faults the real server cannot produce.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../core/kubernetes/kubeconfig.js';
import {
  createTokenReviewVerifier,
  TokenReviewVerifier,
  type TokenReviewVerifierOptions,
} from '../../plugins/attestor/k8s-tokenreview/tokenreview-verifier.js';
import { KubeCluster, type CreatedPod } from '../peers/kube-cluster.js';
import { freePort } from '../support/free-port.js';
import { hs256Token, JwtIssuer, unsignedToken } from '../support/jwt-issuer.js';
import { eventually, tokenReviewCounter } from '../support/kube-observe.js';
import { TokenReviewStandin } from '../support/tokenreview-standin.js';
import { expectNoTokenText, expectTokenRejected, rejection } from './token-assertions.js';

const AUDIENCES = ['meshid'];
let dir: string;
let cluster: KubeCluster;
let kubeconfigPath: string;
let serial = 0;

function verifierFor(over: Partial<TokenReviewVerifierOptions> = {}): TokenReviewVerifier {
  return new TokenReviewVerifier({ kubeConfig: loadKubeConfig({ kubeconfigPath }), audiences: AUDIENCES, ...over });
}

/** A verifier calling the API server with `callerToken` as meshid's own credential. */
async function verifierCallingAs(callerToken: string): Promise<TokenReviewVerifier> {
  const file = await cluster.writeKubeconfig(path.join(dir, `kubeconfig-${++serial}`), callerToken);
  return verifierFor({ kubeConfig: loadKubeConfig({ kubeconfigPath: file }) });
}

/** A fresh pod, so each test's tokens are its own. */
function newPod(nodeName = 'worker-1', serviceAccount = 'web'): Promise<CreatedPod> {
  return cluster.createPod({ namespace: 'shop', name: `web-${++serial}`, serviceAccount, nodeName });
}

const podToken = (pod: CreatedPod, audiences = AUDIENCES, expirationSeconds?: number) =>
  cluster.podToken(pod, audiences, expirationSeconds);

const reviewCounter = () => tokenReviewCounter(cluster);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-tokenreview-'));
  cluster = await KubeCluster.start();
  kubeconfigPath = await cluster.writeKubeconfig(path.join(dir, 'kubeconfig'));
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('TokenReview verification', () => {
  it('maps the review to namespace, service account, pod and node, sending the audiences', async () => {
    const pod = await newPod('worker-7');
    const node = await cluster.createNode('worker-7');
    const token = await podToken(pod, AUDIENCES, 900);
    const reviews = await reviewCounter();
    const identity = await createTokenReviewVerifier({ kubeconfig: kubeconfigPath, audiences: AUDIENCES }).verify(token);
    expect(identity).toEqual({
      namespace: 'shop',
      serviceAccount: 'web',
      podName: pod.name,
      podUid: pod.uid,
      nodeName: 'worker-7',
      nodeUid: node.uid,
      expiresAt: expect.any(Date),
    });
    expect(Math.abs(identity.expiresAt!.getTime() - (Date.now() + 900_000))).toBeLessThan(5_000);
    // The token's only audience is "meshid", not the API server's own: it passes only because it was asked for.
    expect(await reviews()).toBe(1);
  });

  it('costs one review for many sequential verifications of one token', async () => {
    const verifier = verifierFor();
    const token = await podToken(await newPod());
    const reviews = await reviewCounter();
    for (let i = 0; i < 25; i++) await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
    expect(await reviews()).toBe(1);
  });

  it('shares one in-flight review among concurrent verifications of one token', async () => {
    const verifier = verifierFor();
    const token = await podToken(await newPod());
    const reviews = await reviewCounter();
    const results = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
    expect(new Set(results.map((r) => r.podName)).size).toBe(1);
    expect(await reviews()).toBe(1);
  });

  it('reviews each distinct token once', async () => {
    const verifier = verifierFor();
    const tokens = await Promise.all([newPod(), newPod(), newPod()].map(async (p) => podToken(await p)));
    const reviews = await reviewCounter();
    for (const token of [...tokens, ...tokens]) await verifier.verify(token);
    expect(await reviews()).toBe(3);
  });

  it('reviews again once the cached review lapses', async () => {
    let now = Date.now();
    const verifier = verifierFor({ now: () => now, maxCacheSeconds: 60 });
    const token = await podToken(await newPod());
    const reviews = await reviewCounter();
    await verifier.verify(token);
    now += 59_000;
    await verifier.verify(token);
    expect(await reviews()).toBe(1);
    now += 2_000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
    expect(await reviews()).toBe(2);
  });

  it('keeps a review until the token expires, then refuses the token locally', async () => {
    const token = await podToken(await newPod(), AUDIENCES, 600); // TokenRequest's shortest lifetime
    let now = Date.now();
    const verifier = verifierFor({ now: () => now, maxCacheSeconds: 3600 });
    const reviews = await reviewCounter();
    await verifier.verify(token);
    now += 590_000;
    await verifier.verify(token);
    expect(await reviews()).toBe(1);
    now += 60_000;
    await expectTokenRejected(verifier.verify(token), 'token_expired', token);
    expect(await reviews()).toBe(1);
  });

  it('bounds the cache, evicting the least recently used review', async () => {
    const verifier = verifierFor({ cacheMaxEntries: 2 });
    const [a, b, c] = await Promise.all([newPod(), newPod(), newPod()].map(async (p) => podToken(await p)));
    const reviews = await reviewCounter();
    await verifier.verify(a!);
    await verifier.verify(b!);
    await verifier.verify(a!); // a is now the most recently used
    await verifier.verify(c!); // evicts b
    expect(verifier.cachedReviews).toBe(2);
    await verifier.verify(a!);
    expect(await reviews()).toBe(3);
    await verifier.verify(b!);
    expect(await reviews()).toBe(4);
  });

  it('does not cache rejections: every attempt with a refused token is reviewed again', async () => {
    const verifier = verifierFor();
    const pod = await newPod();
    const token = await podToken(pod);
    await cluster.deletePod(pod.namespace, pod.name);
    const reviews = await reviewCounter();
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    expect(await reviews()).toBe(2);
  });
});

describe('TokenReview verification: the token error taxonomy', () => {
  it('refuses missing, malformed, unsigned, HS256, expired and not-yet-valid tokens without a review', async () => {
    const real = await podToken(await newPod());
    const sub = 'system:serviceaccount:shop:web';
    const exp = Math.floor(Date.now() / 1000) + 600;
    const now = Date.now();
    // Unsigned and HS256 tokens are hand-made: the API server never issues them.
    const cases: Array<[string, string, TokenReviewVerifier]> = [
      ['', 'token_missing', verifierFor()],
      ['opaque-token-that-is-no-jwt-at-all', 'token_malformed', verifierFor()],
      // The API server authenticates its static (admin) token as a user, but service-account tokens are JWTs.
      [cluster.adminToken, 'token_malformed', verifierFor()],
      [unsignedToken({ sub, aud: AUDIENCES, exp }), 'token_unsupported_alg', verifierFor()],
      [await hs256Token({ sub, aud: AUDIENCES, exp }), 'token_unsupported_alg', verifierFor()],
      [real, 'token_expired', verifierFor({ now: () => now + 7200_000 })],
      [real, 'token_not_yet_valid', verifierFor({ now: () => now - 600_000 })],
    ];
    const reviews = await reviewCounter();
    for (const [token, reason, verifier] of cases) await expectTokenRejected(verifier.verify(token), reason, token);
    expect(await reviews()).toBe(0);
  });

  it('bad signature: the API server answers authenticated=false', async () => {
    // A forgery (the API server never signs with another key) naming the cluster's issuer and signing key id.
    const { kid } = decodeProtectedHeader(await podToken(await newPod()));
    const forger = await JwtIssuer.create({ issuer: cluster.issuer, kid });
    const token = await forger.mintServiceAccountToken({ namespace: 'kube-system', serviceAccount: 'admin', audiences: AUDIENCES });
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_rejected', token);
    expect(err.message).toMatch(/^the Kubernetes API server rejected the service-account token \(\[invalid bearer token, .+\]\); check that/);
  });

  it('wrong audience: the API server refuses a token minted for another audience', async () => {
    const token = await podToken(await newPod(), ['vault']);
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_wrong_audience', token);
    expect(err.message).toContain('token audiences ["vault"] is invalid for the target audiences ["meshid"]');
  });

  it("without configured audiences, sends none and accepts the API server's own audiences", async () => {
    const verifier = verifierFor({ audiences: [] });
    const pod = await newPod();
    await expect(verifier.verify(await podToken(pod, [cluster.issuer]))).resolves.toMatchObject({ serviceAccount: 'web' });
    const meshidOnly = await podToken(pod);
    const err = await expectTokenRejected(verifier.verify(meshidOnly), 'token_wrong_audience', meshidOnly);
    expect(err.message).toContain(`is invalid for the target audiences ["${cluster.issuer}"]`);
  });

  it('a token bound to a deleted pod is invalidated', async () => {
    const pod = await newPod();
    const token = await podToken(pod);
    await cluster.deletePod(pod.namespace, pod.name);
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_invalidated', token);
    expect(err.message).toContain('([invalid bearer token, service account token has been invalidated])');
    expect(err.message).toContain('use the token of a running pod');
  });

  it('a token bound to a pod that was recreated under the same name is invalidated', async () => {
    const pod = await newPod();
    const token = await podToken(pod);
    await cluster.deletePod(pod.namespace, pod.name);
    await cluster.createPod(pod);
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_invalidated', token);
    expect(err.message).toContain(`does not match service account pod ref claim (${pod.uid})`);
  });

  it('a token of a deleted, or deleted and recreated, service account is invalidated', async () => {
    const gone = await podToken(await newPod('worker-1', 'gone'));
    await cluster.deleteServiceAccount('shop', 'gone');
    const err = await expectTokenRejected(verifierFor().verify(gone), 'token_invalidated', gone);
    expect(err.message).toContain('([invalid bearer token, serviceaccounts "gone" not found])');

    const reborn = await podToken(await newPod('worker-1', 'reborn'));
    await cluster.deleteServiceAccount('shop', 'reborn');
    await cluster.createServiceAccount('shop', 'reborn');
    const again = await expectTokenRejected(verifierFor().verify(reborn), 'token_invalidated', reborn);
    expect(again.message).toMatch(/\(\[invalid bearer token, service account UID \(\S+\) does not match claim \(\S+\)\]\)/);
  });
});

describe('TokenReview verification: API server failures are UNAVAILABLE, never a token verdict', () => {
  it('403: meshid lacks RBAC for tokenreviews, until its account is bound to system:auth-delegator', async () => {
    await cluster.createServiceAccount('meshid', 'reviewer');
    const verifier = await verifierCallingAs(await cluster.requestToken('meshid', 'reviewer', { audiences: [cluster.issuer] }));
    const token = await podToken(await newPod());
    const err = await rejection(verifier.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_forbidden' });
    expect(err.message).toContain("install the Helm chart's RBAC, or bind meshid's service account to the system:auth-delegator ClusterRole");
    expectNoTokenText(err, token);

    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'meshid-reviewer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'reviewer', namespace: 'meshid' }],
    };
    await cluster.apply(binding);
    await eventually('the ClusterRoleBinding to take effect', () =>
      cluster.can({ username: 'system:serviceaccount:meshid:reviewer' }, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }),
    );
    await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it("401: meshid's own credentials are refused", async () => {
    const verifier = await verifierCallingAs('not-a-valid-caller-token');
    const token = await podToken(await newPod());
    const err = await rejection(verifier.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_unauthorized' });
    expectNoTokenText(err, token);
  });

  it('an unreachable API server (nothing listens on its port)', async () => {
    const server = `https://127.0.0.1:${await freePort()}`;
    const verifier = verifierFor({ kubeConfig: kubeConfigFor(cluster.kubeConfig(), server) });
    const token = await podToken(await newPod());
    const err = await rejection(verifier.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_unreachable' });
    expect(err.message).toBe(`cannot reach the Kubernetes API server at ${server} (ECONNREFUSED)`);
    expectNoTokenText(err, token);
  });

  it('a kubeconfig that cannot be loaded, or in-cluster config outside a pod, is INVALID_ARGUMENT', () => {
    expect(() => loadKubeConfig({ kubeconfigPath: path.join(dir, 'missing-kubeconfig') })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', reason: 'bad_kubeconfig' }),
    );
    const secretYaml = path.join(dir, 'broken-kubeconfig');
    writeFileSync(secretYaml, 'users:\n- name: meshid\n  user: {token: s3cr3t-caller-token\n');
    expect(() => loadKubeConfig({ kubeconfigPath: secretYaml })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.not.stringContaining('s3cr3t') }),
    );
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => loadKubeConfig({ inCluster: true })).toThrow(/KUBERNETES_SERVICE_HOST/);
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
  });
});

/** `kubeConfig` pointed at another server. */
function kubeConfigFor(kubeConfig: KubeConfig, server: string): KubeConfig {
  kubeConfig.loadFromOptions({
    clusters: kubeConfig.clusters.map((c) => ({ ...c, server })),
    users: kubeConfig.users,
    contexts: kubeConfig.contexts,
    currentContext: kubeConfig.currentContext,
  });
  return kubeConfig;
}

// Each case here needs an answer kube-apiserver never gives (see the comment on each).
describe('TokenReview verification: faults only the stand-in produces', () => {
  let standin: TokenReviewStandin;
  let standinVerifier: (over?: Partial<TokenReviewVerifierOptions>) => TokenReviewVerifier;

  beforeAll(async () => {
    standin = await TokenReviewStandin.start();
    const kubeConfig = loadKubeConfig({ kubeconfigPath: await standin.writeKubeconfig(dir) });
    standinVerifier = (over = {}) => verifierFor({ kubeConfig, ...over });
  });

  afterAll(() => standin?.close());

  function standinPodToken(opts: { noExpiry?: boolean } = {}): Promise<string> {
    const pod = { name: `web-${++serial}`, uid: `uid-${serial}`, namespace: 'shop', serviceAccount: 'web', nodeName: 'worker-1' };
    standin.registerPod(pod);
    return standin.mintPodToken(pod.namespace, pod.name, { audiences: AUDIENCES, ...opts });
  }

  it('a stalled API server times out, and the failure is not cached', async () => {
    // The real API server answers every TokenReview promptly.
    const verifier = standinVerifier({ requestTimeoutMs: 300 });
    const token = await standinPodToken();
    standin.stalled = true;
    try {
      const err = await rejection(verifier.verify(token));
      expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_timeout' });
      expectNoTokenText(err, token);
    } finally {
      standin.stalled = false;
    }
    await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it('wrong audience: status.audiences without a requested audience is refused even if authenticated', async () => {
    // The real API server only reports audiences that were asked for; this guards against one that does not.
    standin.statusAudiencesOverride = ['https://kubernetes.default.svc'];
    try {
      const token = await standinPodToken();
      const err = await expectTokenRejected(standinVerifier().verify(token), 'token_wrong_audience', token);
      expect(err.message).toContain('kubernetes.default.svc');
    } finally {
      standin.statusAudiencesOverride = undefined;
    }
  });

  it("expired by the API server's clock: its error is classified as expired", async () => {
    // TokenRequest never issues an already-expired token, and meshid refuses one locally before any review
    // unless its own clock is behind the API server's, which only the stand-in can arrange.
    const now = Date.now();
    const token = await standin.issuer.mintServiceAccountToken({
      namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES, issuedAt: new Date(now - 7200_000), expiresAt: new Date(now - 600_000),
    });
    const before = standin.reviewCount;
    const err = await expectTokenRejected(standinVerifier({ now: () => now - 3600_000 }).verify(token), 'token_expired', token);
    expect(err.message).toContain('service account token has expired');
    expect(standin.reviewCount - before).toBe(1);
  });

  it('caches a review of a token without exp for a bounded time only', async () => {
    // Tokens without exp are legacy Secret tokens, minted by kube-controller-manager, which the test cluster lacks.
    let now = Date.now();
    const verifier = standinVerifier({ now: () => now, noExpiryCacheSeconds: 60, maxCacheSeconds: 3600 });
    const token = await standinPodToken({ noExpiry: true });
    const before = standin.reviewCount;
    const identity = await verifier.verify(token);
    expect(identity.expiresAt).toBeUndefined();
    now += 30_000;
    await verifier.verify(token);
    expect(standin.reviewCount - before).toBe(1);
    now += 31_000;
    await verifier.verify(token);
    expect(standin.reviewCount - before).toBe(2);
  });

  it('not a service account: a JWT the API server maps to a user', async () => {
    // The test cluster has no OIDC or webhook authenticator, and its static tokens are not JWTs (refused above
    // without a review).
    const idp = await JwtIssuer.create({ issuer: 'https://idp.example', alg: 'ES256' });
    const token = await idp.sign({ iss: 'https://idp.example', sub: 'alice', aud: ['kubernetes'], exp: Math.floor(Date.now() / 1000) + 600 });
    standin.addStaticToken(token, { username: 'oidc:alice', uid: 'alice', groups: ['system:authenticated'] });
    const err = await expectTokenRejected(standinVerifier().verify(token), 'token_not_service_account', token);
    expect(err.message).toContain('oidc:alice');
  });
});
