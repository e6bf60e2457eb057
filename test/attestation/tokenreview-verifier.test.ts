import { loadKubeConfig } from '../../core/kubernetes/kubeconfig.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createTokenReviewVerifier,
  TokenReviewVerifier,
  type TokenReviewVerifierOptions,
} from '../../plugins/attestor/k8s-tokenreview/tokenreview-verifier.js';
import { hs256Token, JwtIssuer, unsignedToken } from '../support/jwt-issuer.js';
import { TokenReviewStandin, type StandinPod } from '../support/tokenreview-standin.js';
import { expectNoTokenText, expectTokenRejected, rejection } from './token-assertions.js';

const AUDIENCES = ['meshid'];
let dir: string;
let standin: TokenReviewStandin;
let kubeconfigPath: string;
let podCounter = 0;

function verifierFor(over: Partial<TokenReviewVerifierOptions> = {}): TokenReviewVerifier {
  return new TokenReviewVerifier({ kubeConfig: loadKubeConfig({ kubeconfigPath }), audiences: AUDIENCES, ...over });
}

/** A fresh pod, so each test's tokens and review counts are its own. */
function newPod(nodeName = 'worker-1'): StandinPod {
  podCounter++;
  const pod = { name: `web-${podCounter}`, uid: `uid-${podCounter}-${Date.now()}`, namespace: 'shop', serviceAccount: 'web', nodeName };
  standin.registerPod(pod);
  return pod;
}

async function podToken(pod: StandinPod, opts: { audiences?: string[]; lifetimeSeconds?: number; noExpiry?: boolean } = {}) {
  return standin.mintPodToken(pod.namespace, pod.name, { audiences: AUDIENCES, ...opts });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-tokenreview-'));
  standin = await TokenReviewStandin.start();
  kubeconfigPath = await standin.writeKubeconfig(dir);
});

afterAll(async () => {
  await standin.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  standin.statusAudiencesOverride = undefined;
  standin.stalled = false;
});

describe('TokenReview verification', () => {
  it('maps the review to namespace, service account, pod and node, sending the audiences', async () => {
    const pod = newPod('worker-7');
    const token = await podToken(pod, { lifetimeSeconds: 900 });
    const before = standin.reviewCount;
    const identity = await createTokenReviewVerifier({ kubeconfig: kubeconfigPath, audiences: AUDIENCES }).verify(token);
    expect(identity).toEqual({
      namespace: 'shop',
      serviceAccount: 'web',
      podName: pod.name,
      podUid: pod.uid,
      nodeName: 'worker-7',
      nodeUid: standin.nodeUid('worker-7'),
      expiresAt: expect.any(Date),
    });
    expect(Math.abs(identity.expiresAt!.getTime() - (Date.now() + 900_000))).toBeLessThan(5_000);
    expect(standin.reviews.slice(before)).toEqual([AUDIENCES]);
  });

  it('costs one review for many sequential verifications of one token', async () => {
    const verifier = verifierFor();
    const token = await podToken(newPod());
    const before = standin.reviewCount;
    for (let i = 0; i < 25; i++) await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
    expect(standin.reviewCount - before).toBe(1);
  });

  it('shares one in-flight review among concurrent verifications of one token', async () => {
    const verifier = verifierFor();
    const token = await podToken(newPod());
    const before = standin.reviewCount;
    const results = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
    expect(new Set(results.map((r) => r.podName)).size).toBe(1);
    expect(standin.reviewCount - before).toBe(1);
  });

  it('reviews each distinct token once', async () => {
    const verifier = verifierFor();
    const tokens = await Promise.all([newPod(), newPod(), newPod()].map((p) => podToken(p)));
    const before = standin.reviewCount;
    for (const token of [...tokens, ...tokens]) await verifier.verify(token);
    expect(standin.reviewCount - before).toBe(3);
  });

  it('reviews again once the cached review lapses, noticing a pod deleted meanwhile', async () => {
    let now = Date.now();
    const verifier = verifierFor({ now: () => now, maxCacheSeconds: 60 });
    const pod = newPod();
    const token = await podToken(pod, { lifetimeSeconds: 3600 });
    const before = standin.reviewCount;
    await verifier.verify(token);
    standin.deletePod(pod.namespace, pod.name);
    now += 59_000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ podName: pod.name });
    expect(standin.reviewCount - before).toBe(1);
    now += 2_000;
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    expect(standin.reviewCount - before).toBe(2);
  });

  it('keeps a review until the token expires, then refuses the token locally', async () => {
    let now = Date.now();
    const verifier = verifierFor({ now: () => now });
    const token = await podToken(newPod(), { lifetimeSeconds: 600 });
    const before = standin.reviewCount;
    await verifier.verify(token);
    now += 590_000;
    await verifier.verify(token);
    expect(standin.reviewCount - before).toBe(1);
    now += 60_000;
    await expectTokenRejected(verifier.verify(token), 'token_expired', token);
    expect(standin.reviewCount - before).toBe(1);
  });

  it('caches a review of a token without exp for a bounded time only', async () => {
    let now = Date.now();
    const verifier = verifierFor({ now: () => now, noExpiryCacheSeconds: 60 });
    const token = await podToken(newPod(), { noExpiry: true });
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

  it('bounds the cache, evicting the least recently used review', async () => {
    const verifier = verifierFor({ cacheMaxEntries: 2 });
    const [a, b, c] = await Promise.all([newPod(), newPod(), newPod()].map((p) => podToken(p)));
    const before = standin.reviewCount;
    await verifier.verify(a!);
    await verifier.verify(b!);
    await verifier.verify(a!); // a is now the most recently used
    await verifier.verify(c!); // evicts b
    expect(verifier.cachedReviews).toBe(2);
    await verifier.verify(a!);
    expect(standin.reviewCount - before).toBe(3);
    await verifier.verify(b!);
    expect(standin.reviewCount - before).toBe(4);
  });

  it('does not cache rejections: every attempt with a refused token is reviewed again', async () => {
    const verifier = verifierFor();
    const pod = newPod();
    const token = await podToken(pod);
    standin.deletePod(pod.namespace, pod.name);
    const before = standin.reviewCount;
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    expect(standin.reviewCount - before).toBe(2);
  });
});

describe('TokenReview verification: the token error taxonomy', () => {
  it('refuses missing, malformed, unsigned, HS256, expired and not-yet-valid tokens without a review', async () => {
    const verifier = verifierFor();
    const sub = 'system:serviceaccount:shop:web';
    const exp = Math.floor(Date.now() / 1000) + 600;
    const now = Date.now();
    const cases: Array<[string, string]> = [
      ['', 'token_missing'],
      ['opaque-token-that-is-no-jwt-at-all', 'token_malformed'],
      [unsignedToken({ sub, aud: AUDIENCES, exp }), 'token_unsupported_alg'],
      [await hs256Token({ sub, aud: AUDIENCES, exp }), 'token_unsupported_alg'],
      [
        await standin.issuer.mintServiceAccountToken({
          namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES, issuedAt: new Date(now - 7200_000), expiresAt: new Date(now - 60_000),
        }),
        'token_expired',
      ],
      [
        await standin.issuer.mintServiceAccountToken({
          namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES, notBefore: new Date(now + 600_000),
        }),
        'token_not_yet_valid',
      ],
    ];
    const before = standin.reviewCount;
    for (const [token, reason] of cases) await expectTokenRejected(verifier.verify(token), reason, token);
    expect(standin.reviewCount - before).toBe(0);
  });

  it('bad signature: the API server answers authenticated=false', async () => {
    const forger = await JwtIssuer.create({ issuer: standin.issuer.issuer, kid: standin.issuer.kid });
    const token = await forger.mintServiceAccountToken({ namespace: 'kube-system', serviceAccount: 'admin', audiences: AUDIENCES });
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_rejected', token);
    expect(err.message).toContain('rejected the service-account token ([invalid bearer token, token could not be validated])');
  });

  it('wrong audience: the API server refuses a token minted for another audience', async () => {
    const token = await podToken(newPod(), { audiences: ['vault'] });
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_wrong_audience', token);
    expect(err.message).toContain('["meshid"]');
  });

  it('wrong audience: status.audiences without a requested audience is refused even if authenticated', async () => {
    standin.statusAudiencesOverride = ['https://kubernetes.default.svc'];
    const token = await podToken(newPod());
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_wrong_audience', token);
    expect(err.message).toContain('kubernetes.default.svc');
  });

  it('without configured audiences, sends none and accepts the API server\'s own audiences', async () => {
    const token = await podToken(newPod(), { audiences: [standin.issuer.issuer] });
    const before = standin.reviewCount;
    await expect(verifierFor({ audiences: [] }).verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
    expect(standin.reviews.slice(before)).toEqual([[]]);
  });

  it('not a service account: a token the API server maps to a user', async () => {
    const idp = await JwtIssuer.create({ issuer: 'https://idp.example', alg: 'ES256' });
    const token = await idp.sign({ iss: 'https://idp.example', sub: 'alice', aud: ['kubernetes'], exp: Math.floor(Date.now() / 1000) + 600 });
    standin.addStaticToken(token, { username: 'oidc:alice', uid: 'alice', groups: ['system:authenticated'] });
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_not_service_account', token);
    expect(err.message).toContain('oidc:alice');
  });

  it('expired by the API server\'s clock: its error is classified as expired', async () => {
    const now = Date.now();
    const token = await standin.issuer.mintServiceAccountToken({
      namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES, issuedAt: new Date(now - 7200_000), expiresAt: new Date(now - 600_000),
    });
    const slowClock = verifierFor({ now: () => now - 3600_000 });
    const before = standin.reviewCount;
    const err = await expectTokenRejected(slowClock.verify(token), 'token_expired', token);
    expect(err.message).toContain('service account token has expired');
    expect(standin.reviewCount - before).toBe(1);
  });

  it('a token bound to a deleted pod is invalidated', async () => {
    const pod = newPod();
    const token = await podToken(pod);
    standin.deletePod(pod.namespace, pod.name);
    const err = await expectTokenRejected(verifierFor().verify(token), 'token_invalidated', token);
    expect(err.message).toContain('running pod');
  });

  it('a token bound to a pod that was recreated under the same name is invalidated', async () => {
    const pod = newPod();
    const token = await podToken(pod);
    standin.registerPod({ ...pod, uid: `${pod.uid}-recreated` });
    await expectTokenRejected(verifierFor().verify(token), 'token_invalidated', token);
  });
});

describe('TokenReview verification: API server failures are UNAVAILABLE, never a token verdict', () => {
  it('403: meshid lacks RBAC for tokenreviews', async () => {
    const file = await standin.writeKubeconfig(dir, standin.forbiddenCallerToken);
    const token = await podToken(newPod());
    const err = await rejection(verifierFor({ kubeConfig: loadKubeConfig({ kubeconfigPath: file }) }).verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_forbidden' });
    expect(err.message).toContain('system:auth-delegator');
    expectNoTokenText(err, token);
  });

  it('401: meshid\'s own credentials are refused', async () => {
    const file = await standin.writeKubeconfig(dir, 'not-a-valid-caller-token');
    const token = await podToken(newPod());
    const err = await rejection(verifierFor({ kubeConfig: loadKubeConfig({ kubeconfigPath: file }) }).verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_unauthorized' });
    expectNoTokenText(err, token);
  });

  it('a stalled API server times out, and the failure is not cached', async () => {
    const verifier = verifierFor({ requestTimeoutMs: 300 });
    const token = await podToken(newPod());
    standin.stalled = true;
    const err = await rejection(verifier.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_timeout' });
    expectNoTokenText(err, token);
    standin.stalled = false;
    await expect(verifier.verify(token)).resolves.toMatchObject({ serviceAccount: 'web' });
  });

  it('an unreachable API server', async () => {
    const gone = await TokenReviewStandin.start();
    const file = await gone.writeKubeconfig(dir);
    const verifier = verifierFor({ kubeConfig: loadKubeConfig({ kubeconfigPath: file }) });
    const token = await gone.issuer.mintServiceAccountToken({ namespace: 'shop', serviceAccount: 'web', audiences: AUDIENCES });
    await gone.close();
    const err = await rejection(verifier.verify(token));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'tokenreview_unreachable' });
    expect(err.message).toContain('ECONNREFUSED');
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
