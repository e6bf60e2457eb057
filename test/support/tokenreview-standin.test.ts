// The stand-in must answer like kube-apiserver wherever the fault tests rely on it (checked against the real
// one), and produce the faults it exists for.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../peers/kube-cluster.js';
import { TokenReviewStandin } from './tokenreview-standin.js';

const PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
let standin: TokenReviewStandin;
let cluster: KubeCluster;

beforeAll(async () => {
  [standin, cluster] = await Promise.all([TokenReviewStandin.start(), KubeCluster.start()]);
  standin.registerPod({ name: 'web-1', uid: 'pod-uid-1', namespace: 'shop', serviceAccount: 'web', nodeName: 'worker-2' });
});

afterAll(async () => {
  await standin?.close();
  await cluster?.stop();
});

interface ReviewStatus {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; groups?: string[]; extra?: Record<string, string[]> };
}

interface Answer {
  status: number;
  json: { kind?: string; status?: ReviewStatus };
}

const review = (token: string, audiences?: string[]) => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } });

/** A TokenReview sent to the stand-in over HTTPS trusting only its CA; `signal` abandons it. */
function standinReview(body: unknown, opts: { bearer?: string; signal?: AbortSignal } = {}): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      `${standin.url}${PATH}`,
      {
        method: 'POST',
        ca: standin.caPem,
        signal: opts.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.bearer ?? standin.callerToken}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** What meshid reads from a review's status; uids and credential ids differ between the two servers. */
function shape(status: ReviewStatus) {
  return {
    authenticated: status.authenticated,
    audiences: status.audiences,
    error: status.error,
    username: status.user?.username,
    groups: status.user?.groups,
    extra: Object.keys(status.user?.extra ?? {}).sort(),
  };
}

describe('TokenReview stand-in', () => {
  it('answers reviews of pod-bound tokens in the shape the real API server does', async () => {
    const realPod = await cluster.createPod({ namespace: 'shop', name: 'web-1', serviceAccount: 'web', nodeName: 'worker-2' });
    for (const audiences of [['meshid'], ['vault']]) {
      const real = await cluster.call('POST', PATH, review(await cluster.podToken(realPod, audiences), ['meshid']));
      const stood = await standinReview(review(await standin.mintPodToken('shop', 'web-1', { audiences }), ['meshid']));
      expect(stood.status).toBe(201);
      expect(shape(stood.json.status!)).toEqual(shape(real.status));
    }
  });

  it('produces the faults it exists for', async () => {
    const token = await standin.mintPodToken('shop', 'web-1', { audiences: ['meshid'] });

    standin.stalled = true;
    const abandoned = standinReview(review(token, ['meshid']), { signal: AbortSignal.timeout(200) });
    await expect(abandoned).rejects.toMatchObject({ name: 'AbortError' });
    standin.stalled = false;

    standin.statusAudiencesOverride = ['https://kubernetes.default.svc'];
    expect((await standinReview(review(token, ['meshid']))).json.status).toMatchObject({ audiences: ['https://kubernetes.default.svc'] });
    standin.statusAudiencesOverride = undefined;

    const expired = await standin.issuer.mintServiceAccountToken({
      namespace: 'shop', serviceAccount: 'web', audiences: ['meshid'], issuedAt: new Date(Date.now() - 7200_000), lifetimeSeconds: 600,
    });
    expect((await standinReview(review(expired, ['meshid']))).json.status).toEqual({
      user: {},
      error: '[invalid bearer token, service account token has expired]',
    });

    standin.addStaticToken('user-token', { username: 'oidc:alice' });
    expect((await standinReview(review('user-token', ['meshid']))).json.status).toMatchObject({ authenticated: true, user: { username: 'oidc:alice' } });

    expect(await standinReview(review(token), { bearer: 'someone-else' })).toMatchObject({ status: 401, json: { kind: 'Status' } });
  });
});
