// istio-agent's CreateCertificate against a CA in tokenreview mode, with a real kube-apiserver reviewing real
// pod tokens (TokenRequest bound to the pod). istio-agent talks to the CA directly, so there is no node check
// here: that is the node agent's path (node-agent.test.ts).
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import { AUDIENCE, authorization, CaFixture, expectStatus, newCsr, pemToDer, rpc, splitPem, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { KubeCluster, type CreatedPod } from '../peers/kube-cluster.js';
import { eventually, tokenReviewCounter } from '../support/kube-observe.js';
import { checkX509SvidProfile } from '../x509/svid-profile.js';

let dir: string;
let cluster: KubeCluster;
let ca: CaFixture;
let client: IstioCertificateServiceClient;
let podCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-istio-tokenreview-'));
  cluster = await KubeCluster.start();
  const kubeconfig = await cluster.writeKubeconfig(path.join(dir, 'kubeconfig'));
  ca = await CaFixture.start({ kubernetes: 'disabled', config: { kubernetes: { mode: 'tokenreview', kubeconfig, audiences: [AUDIENCE] } } });
  client = ca.istioClient();
});

afterAll(async () => {
  client?.close();
  await ca?.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

/** A fresh pod of `serviceAccount` in shop. */
const newPod = (serviceAccount = 'web') =>
  cluster.createPod({ namespace: 'shop', name: `web-${++podCount}`, serviceAccount, nodeName: 'worker-1' });

const podToken = (pod: CreatedPod, audiences = [AUDIENCE], expirationSeconds?: number) => cluster.podToken(pod, audiences, expirationSeconds);

/** What istio-agent sends: a fresh CSR with its projected token as the bearer. */
async function createCertificate(token: string) {
  const { csr, privateKey } = await newCsr();
  const res = await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 }, authorization(`Bearer ${token}`));
  return { chain: res.cert_chain, privateKey };
}

const refusal = (token: string, message: string) => expectStatus(createCertificate(token), status.UNAUTHENTICATED, message);

/**
 * Moves Date on (meshid's clock in the CA; the API server keeps its own), for windows longer than a test should
 * wait. afterEach restores the real clock.
 */
function advanceDate(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + ms);
}

/** The API server's own verdict on `token` for meshid's audience (sharing its cache with meshid's reviews). */
async function apiServerAuthenticates(token: string): Promise<boolean> {
  const review = await cluster.call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, audiences: [AUDIENCE] },
  });
  return review.status.authenticated === true;
}

describe('IstioCertificateService with TokenReview attestation by a real API server', () => {
  it('issues spiffe://TD/ns/NS/sa/SA for a pod token the API server vouches for', async () => {
    const { chain, privateKey } = await createCertificate(await podToken(await newPod()));
    const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;
    expect(new X509Certificate(chain[0]!).subjectAltName).toBe(`URI:${spiffeId}`);
    expect(chain.at(-1)).toBe(ca.bundlePem());
    const violations = checkX509SvidProfile(chain.slice(0, -1).map(pemToDer), {
      expectedSpiffeId: spiffeId,
      trustDomain: TrustDomain.parse(TRUST_DOMAIN),
      privateKey,
      roots: splitPem(chain.at(-1)!).map(pemToDer),
      now: new Date(),
    });
    expect(violations).toEqual([]);
  });

  it('reviews one token once across several CSRs', async () => {
    const token = await podToken(await newPod());
    const reviews = await tokenReviewCounter(cluster);
    for (let i = 0; i < 3; i++) await createCertificate(token);
    // The token's only audience is meshid's (not the API server's own): the review asked for it.
    expect(await reviews()).toBe(1);
  });

  it('refuses a token for another audience', async () => {
    await refusal(
      await podToken(await newPod(), ['vault']),
      'the Kubernetes API server rejected the service-account token ([invalid bearer token, token audiences ["vault"] is ' +
        'invalid for the target audiences ["meshid"]]); request the projected token with audience ["meshid"]',
    );
  });

  it('refuses the token of a deleted pod', async () => {
    const pod = await newPod();
    const token = await podToken(pod);
    await cluster.deletePod(pod.namespace, pod.name);
    await refusal(
      token,
      'the Kubernetes API server rejected the service-account token ([invalid bearer token, service account token has been ' +
        'invalidated]); its pod or service account was deleted or recreated; use the token of a running pod',
    );
  });

  it('refuses the token of a deleted service account', async () => {
    const token = await podToken(await newPod('gone'));
    await cluster.deleteServiceAccount('shop', 'gone');
    await refusal(
      token,
      'the Kubernetes API server rejected the service-account token ([invalid bearer token, serviceaccounts "gone" not ' +
        'found]); its pod or service account was deleted or recreated; use the token of a running pod',
    );
  });

  it('refuses an expired token itself, without a review', async () => {
    const token = await podToken(await newPod(), [AUDIENCE], 600); // TokenRequest's shortest lifetime
    const expiresAt = new Date(decodeJwt(token).exp! * 1000);
    const reviews = await tokenReviewCounter(cluster);
    // Past exp and meshid's 30 s of tolerated skew by meshid's clock; the API server is never asked.
    advanceDate(700_000);
    await refusal(
      token,
      `service-account token expired at ${expiresAt.toISOString()}; re-read the projected token file (the kubelet refreshes it) and retry`,
    );
    expect(await reviews()).toBe(0);
  });

  it('keeps vouching for a reviewed token whose pod was deleted until both caches lapse', async () => {
    const pod = await newPod();
    const token = await podToken(pod);
    const reviews = await tokenReviewCounter(cluster);
    await createCertificate(token);
    await cluster.deletePod(pod.namespace, pod.name);

    await createCertificate(token); // meshid's cache (kubernetes.reviewCacheTtl, 10 s by default)
    expect(await reviews()).toBe(1);
    advanceDate(11_000);
    await createCertificate(token); // reviewed again, but the API server answers from its own cache (10 s, fixed)
    expect(await reviews()).toBe(2);

    await eventually("the API server's token cache to lapse", async () => !(await apiServerAuthenticates(token)));
    advanceDate(11_000);
    await refusal(
      token,
      'the Kubernetes API server rejected the service-account token ([invalid bearer token, service account token has been ' +
        'invalidated]); its pod or service account was deleted or recreated; use the token of a running pod',
    );
  });
});
