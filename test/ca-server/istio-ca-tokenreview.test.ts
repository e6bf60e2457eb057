import { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import type { TokenReviewStandin } from '../support/tokenreview-standin.js';
import { AUDIENCE, authorization, CaFixture, expectStatus, newCsr, pemToDer, rpc, splitPem, TRUST_DOMAIN } from './fixture.js';

let ca: CaFixture;
let standin: TokenReviewStandin;
let client: IstioCertificateServiceClient;
let podCount = 0;

beforeAll(async () => {
  ca = await CaFixture.start({ kubernetes: 'tokenreview' });
  standin = ca.standin!;
  client = ca.istioClient();
});

afterAll(async () => {
  client?.close();
  await ca?.close();
});

/** A pod of shop/web on worker-1 and its projected token. */
async function podToken(audiences = [AUDIENCE]): Promise<{ token: string; name: string }> {
  const name = `web-${++podCount}`;
  standin.registerPod({ name, uid: `uid-${name}`, namespace: 'shop', serviceAccount: 'web', nodeName: 'worker-1' });
  return { token: await standin.mintPodToken('shop', name, { audiences }), name };
}

const bearer = (token: string) => authorization(`Bearer ${token}`);

describe('IstioCertificateService with TokenReview attestation', () => {
  it('issues spiffe://TD/ns/NS/sa/SA for a pod token the API server vouches for', async () => {
    const { token } = await podToken();
    const { csr, privateKey } = await newCsr();
    const res = await rpc(client, client.CreateCertificate, { csr, validity_duration: 900 }, bearer(token));
    const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;
    expect(new X509Certificate(res.cert_chain[0]!).subjectAltName).toBe(`URI:${spiffeId}`);
    expect(res.cert_chain.at(-1)).toBe(ca.bundlePem());
    const violations = checkX509SvidProfile(res.cert_chain.slice(0, -1).map(pemToDer), {
      expectedSpiffeId: spiffeId,
      privateKey,
      roots: splitPem(res.cert_chain.at(-1)!).map(pemToDer),
      now: new Date(),
    });
    expect(violations).toEqual([]);
  });

  it('sends the configured audiences and reviews one token once across several CSRs', async () => {
    const { token } = await podToken();
    const before = standin.reviewCount;
    for (let i = 0; i < 3; i++) {
      const { csr } = await newCsr();
      await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 }, bearer(token));
    }
    expect(standin.reviews.slice(before)).toEqual([[AUDIENCE]]);
  });

  it('refuses a token for another audience with UNAUTHENTICATED', async () => {
    const { token } = await podToken(['vault']);
    const { csr } = await newCsr();
    await expectStatus(
      rpc(client, client.CreateCertificate, { csr, validity_duration: 600 }, bearer(token)),
      status.UNAUTHENTICATED,
      /rejected the service-account token .*audience/,
    );
  });

  it('refuses the token of a deleted pod with UNAUTHENTICATED', async () => {
    const { token, name } = await podToken();
    standin.deletePod('shop', name);
    const { csr } = await newCsr();
    await expectStatus(
      rpc(client, client.CreateCertificate, { csr, validity_duration: 600 }, bearer(token)),
      status.UNAUTHENTICATED,
      /rejected the service-account token .*invalidated/,
    );
  });
});
