// Refused tokens cost one verification, not one per attempt. TokenReview cases run against a real
// kube-apiserver, which counts the reviews itself; the offline case forges a signature, which needs a test issuer.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtServiceAccountVerifier } from '../../plugins/attestor/k8s-jwt/jwt-verifier.js';
import { jwksFromFile } from '../../plugins/attestor/k8s-jwt/jwks-file.js';
import { TokenReviewVerifier } from '../../plugins/attestor/k8s-tokenreview/tokenreview-verifier.js';
import { expectTokenRejected } from '../attestation/token-assertions.js';
import { AUDIENCE, authorization, CaFixture, grpcError, K8S_ISSUER, newCsr, rpc } from '../ca-server/fixture.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { JwtIssuer } from '../support/jwt-issuer.js';
import { tokenReviewCounter } from '../support/kube-observe.js';

const REJECTED = { ttlMs: 60_000, maxEntries: 100 };
let dir: string;
let cluster: KubeCluster;
let kubeconfig: string;
let pods = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-rejected-'));
  cluster = await KubeCluster.start();
  kubeconfig = await cluster.writeKubeconfig(path.join(dir, 'kubeconfig'));
});

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The token of a pod that has since been deleted: every review of it is refused. */
async function deletedPodToken(): Promise<string> {
  const pod = await cluster.createPod({ namespace: 'shop', name: `deleted-${++pods}`, serviceAccount: 'web', nodeName: 'worker-1' });
  const token = await cluster.podToken(pod, [AUDIENCE]);
  await cluster.deletePod(pod.namespace, pod.name);
  return token;
}

/** A CA in tokenreview mode against the cluster, with extra raw config. */
function tokenReviewCa(config: Record<string, unknown> = {}): Promise<CaFixture> {
  return CaFixture.start({ kubernetes: 'disabled', config: { kubernetes: { mode: 'tokenreview', kubeconfig, audiences: [AUDIENCE] }, ...config } });
}

describe('refused tokens are remembered (limits.rejectedTokens)', () => {
  it('TokenReview: 100 attempts with one refused token cost one review and get the same error, until the ttl', async () => {
    let now = Date.now();
    const verifier = new TokenReviewVerifier({ kubeConfig: cluster.kubeConfig(), audiences: [AUDIENCE], rejectedTokens: REJECTED, now: () => now });
    const token = await deletedPodToken();
    const reviews = await tokenReviewCounter(cluster);
    const first = await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    for (let i = 1; i < 100; i++) await expect(verifier.verify(token)).rejects.toBe(first);
    expect(await reviews()).toBe(1);
    now += 60_000;
    await expectTokenRejected(verifier.verify(token), 'token_invalidated', token);
    expect(await reviews()).toBe(2);
  });

  it('offline JWT: 100 attempts with one forged token cost one signature check', async () => {
    const issuer = await JwtIssuer.create({ issuer: K8S_ISSUER });
    const jwksFile = path.join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(issuer.jwks()));
    const source = await jwksFromFile(jwksFile);
    let keyLookups = 0;
    const keys: JWTVerifyGetKey = (header, token) => {
      keyLookups++;
      return source.keys(header, token);
    };
    const verifier = new JwtServiceAccountVerifier({ issuer: issuer.issuer, audiences: [AUDIENCE], keys, rejectedTokens: REJECTED });
    const forger = await JwtIssuer.create({ issuer: issuer.issuer, kid: issuer.kid });
    const forged = await forger.mintServiceAccountToken({ namespace: 'shop', serviceAccount: 'web', audiences: [AUDIENCE] });
    const first = await expectTokenRejected(verifier.verify(forged), 'token_bad_signature', forged);
    for (let i = 1; i < 100; i++) await expect(verifier.verify(forged)).rejects.toBe(first);
    expect(keyLookups).toBe(1);
  });
});

describe('the CA remembers refused tokens by default', () => {
  /** 100 CreateCertificate calls with a token whose pod was deleted; the answers, in order. */
  async function hundredCalls(ca: CaFixture): Promise<{ answers: string[]; reviews: number }> {
    const token = await deletedPodToken();
    const client = ca.istioClient();
    const { csr } = await newCsr();
    const reviews = await tokenReviewCounter(cluster);
    const answers: string[] = [];
    for (let i = 0; i < 100; i++) {
      const err = await grpcError(rpc(client, client.CreateCertificate, { csr }, authorization(`Bearer ${token}`)));
      answers.push(`${status[err.code]}: ${err.details}`);
    }
    client.close();
    return { answers, reviews: await reviews() };
  }

  it('one TokenReview for 100 identical bad-token calls, each answered with the same refusal', async () => {
    const ca = await tokenReviewCa({ limits: { attestationPerIp: 'off' } });
    try {
      const { answers, reviews } = await hundredCalls(ca);
      expect(reviews).toBe(1);
      expect(new Set(answers).size).toBe(1);
      expect(answers[0]).toMatch(/^UNAUTHENTICATED: the Kubernetes API server rejected the service-account token \(.*invalidated/);
    } finally {
      await ca.close();
    }
  });

  it('with the attestation limit too, the source is refused once it has spent its budget on refusals', async () => {
    const ca = await tokenReviewCa();
    try {
      const { answers, reviews } = await hundredCalls(ca);
      expect(reviews).toBe(1);
      const burst = ca.config.limits.attestationPerIp!.burst;
      const limited = 'RESOURCE_EXHAUSTED: rate limit for attestation from 127.0.0.1 exceeded: 20/s burst 40 (limits.attestationPerIp); retry later';
      // the budget refills at 20/s while the calls run, so later refusals may be either
      expect(new Set(answers.slice(0, burst))).toEqual(new Set([answers[0]]));
      expect(answers[0]).toMatch(/^UNAUTHENTICATED: /);
      expect(answers).toContain(limited);
      expect(answers.every((a) => a === answers[0] || a === limited)).toBe(true);
    } finally {
      await ca.close();
    }
  });
});
