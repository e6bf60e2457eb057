import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenReviewStandin } from './tokenreview-standin.js';

let standin: TokenReviewStandin;

beforeAll(async () => {
  standin = await TokenReviewStandin.start();
  standin.registerPod({ name: 'web-1', uid: 'pod-uid-1', namespace: 'shop', serviceAccount: 'web', nodeName: 'worker-2' });
});
afterAll(() => standin.close());

/** A raw HTTPS call trusting only the stand-in's CA (so the test checks its TLS set-up too). */
interface Answer {
  status: number;
  json: { kind?: string; status?: Record<string, unknown>; keys?: unknown[]; [field: string]: unknown };
}

function call(method: string, path: string, opts: { bearer?: string; body?: unknown } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(`${standin.url}${path}`, {
      method,
      ca: standin.caPem,
      headers: { 'content-type': 'application/json', ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
  });
}

const review = (token: string, audiences?: string[]) => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenReview',
  spec: { token, audiences },
});

describe('TokenReview stand-in', () => {
  it('answers a review of a pod-bound token like kube-apiserver', async () => {
    const token = await standin.mintPodToken('shop', 'web-1', { audiences: ['meshid', 'vault'] });
    const before = standin.reviewCount;
    const { status, json } = await call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      bearer: standin.callerToken,
      body: review(token, ['meshid', 'other']),
    });
    expect(status).toBe(201);
    expect(json.kind).toBe('TokenReview');
    expect(json.status).toMatchObject({
      authenticated: true,
      audiences: ['meshid'],
      user: {
        username: 'system:serviceaccount:shop:web',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'],
        extra: {
          'authentication.kubernetes.io/pod-name': ['web-1'],
          'authentication.kubernetes.io/pod-uid': ['pod-uid-1'],
          'authentication.kubernetes.io/node-name': ['worker-2'],
          'authentication.kubernetes.io/node-uid': [standin.nodeUid('worker-2')],
        },
      },
    });
    expect(standin.reviewCount - before).toBe(1);
  });

  it('uses its API audiences when the review names none', async () => {
    const token = await standin.mintPodToken('shop', 'web-1', { audiences: [standin.issuer.issuer] });
    const { json } = await call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { bearer: standin.callerToken, body: review(token) });
    expect(json.status).toMatchObject({ authenticated: true, audiences: [standin.issuer.issuer] });
  });

  it('refuses callers without its bearer token (401) or without RBAC (403), as Status objects', async () => {
    const body = review('x');
    const anonymous = await call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { body });
    expect(anonymous).toMatchObject({ status: 401, json: { kind: 'Status', code: 401, reason: 'Unauthorized' } });
    const forbidden = await call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { bearer: standin.forbiddenCallerToken, body });
    expect(forbidden).toMatchObject({ status: 403, json: { kind: 'Status', code: 403, reason: 'Forbidden' } });
  });

  it('answers authenticated=false for a deleted pod, a wrong audience and an unknown token', async () => {
    standin.registerPod({ name: 'gone', uid: 'gone-uid', namespace: 'shop', serviceAccount: 'web', nodeName: 'worker-1' });
    const gone = await standin.mintPodToken('shop', 'gone', { audiences: ['meshid'] });
    standin.deletePod('shop', 'gone');
    const wrongAudience = await standin.mintPodToken('shop', 'web-1', { audiences: ['vault'] });
    const outcomes = await Promise.all(
      [gone, wrongAudience, 'opaque'].map((t) =>
        call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { bearer: standin.callerToken, body: review(t, ['meshid']) }),
      ),
    );
    expect(outcomes.map((o) => o.json.status)).toEqual([
      { authenticated: false, error: '[invalid bearer token, service account token has been invalidated]' },
      { authenticated: false, error: '[invalid bearer token, token audiences ["vault"] is invalid for the target audiences ["meshid"]]' },
      { authenticated: false, error: '[invalid bearer token, token could not be validated]' },
    ]);
  });

  it('serves issuer discovery and the JWKS', async () => {
    const discovery = await call('GET', '/.well-known/openid-configuration');
    expect(discovery.json).toMatchObject({ issuer: standin.issuer.issuer, jwks_uri: `${standin.url}/openid/v1/jwks` });
    const jwks = await call('GET', '/openid/v1/jwks');
    expect(jwks.json.keys).toEqual([expect.objectContaining({ kid: standin.issuer.kid, use: 'sig' })]);
  });

  it('only mints tokens for registered pods', async () => {
    await expect(standin.mintPodToken('shop', 'nope', { audiences: ['meshid'] })).rejects.toThrow('not registered');
  });
});
