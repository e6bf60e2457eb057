import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { AgentSVIDResponse__Output } from '../../protos/gen/meshid/v1/AgentSVIDResponse.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import { authorization, CaFixture, useCa, derToPem, expectStatus, newCsr, rpc, TRUST_DOMAIN, type ClientIdentity } from '../ca-server/fixture.js';

/** No waiting: a caller over the limit is refused at once, so the tests need no clock. */
const NO_QUEUE = { maxWait: '0s' };

async function rateLimited(ca: CaFixture, limit: string): Promise<number> {
  const text = await (await fetch(`${ca.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`meshid_rate_limited_total{limit="${limit}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const bearer = (token: string) => authorization(`Bearer ${token}`);

describe('attestation per source address (limits.attestationPerIp)', () => {
  let ca: CaFixture;
  let anonymous: NodeAgentServiceClient;

  useCa({ kubernetes: 'jwt', config: { limits: { attestationPerIp: { rate: 0.001, burst: 3 }, queue: NO_QUEUE } } }, (running) => ({ ca, anonymous } = running));

  it('valid Bearer tokens spend nothing, refused ones spend the budget, then the source is refused, even with a valid token', async () => {
    const client = ca.istioClient();
    const good = await ca.saToken('shop', 'web');
    for (let i = 0; i < 5; i++) await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(good));
    const forged = await ca.saToken('shop', 'web', { expiresAt: new Date(Date.now() - 600_000) });
    for (let i = 0; i < 3; i++) {
      await expectStatus(rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(forged)), status.UNAUTHENTICATED, /expired/);
    }
    const message = 'rate limit for attestation from 127.0.0.1 exceeded: 0.001/s burst 3 (limits.attestationPerIp); retry later';
    await expectStatus(rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(forged)), status.RESOURCE_EXHAUSTED, message);
    await expectStatus(rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(good)), status.RESOURCE_EXHAUSTED, message);
    // AttestAgent shares the source's budget
    await expectStatus(rpc(anonymous, anonymous.AttestAgent, { join_token: 'x', csr: (await newCsr()).csr }), status.RESOURCE_EXHAUSTED, message);
    expect(await rateLimited(ca, 'attestationPerIp')).toBe(3);
    client.close();
  });
});

describe('AttestAgent per source address', () => {
  let admin: AdminServiceClient;
  let anonymous: NodeAgentServiceClient;

  useCa({ kubernetes: 'disabled', config: { limits: { attestationPerIp: { rate: 0.001, burst: 2 }, queue: NO_QUEUE } } }, (running) => ({ admin, anonymous } = running));

  it('every call spends, successful or not', async () => {
    const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
    await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr });
    await expectStatus(rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr }), status.UNAUTHENTICATED, /already been used/);
    const fresh = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: fresh.value, csr: (await newCsr()).csr }),
      status.RESOURCE_EXHAUSTED,
      'rate limit for attestation from 127.0.0.1 exceeded: 0.001/s burst 2 (limits.attestationPerIp); retry later',
    );
  });
});

describe('queueing', () => {
  let ca: CaFixture;

  beforeAll(async () => {
    ca = await CaFixture.start({ kubernetes: 'jwt', config: { limits: { signingPerIdentity: { rate: 50, burst: 1 }, queue: { maxWait: '1s' } } } });
  });

  afterAll(async () => ca?.close());

  it('a caller over the burst waits for its token instead of failing', async () => {
    const client = ca.istioClient();
    const token = await ca.saToken('shop', 'queued');
    const calls = Array.from({ length: 5 }, async () => rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(token)));
    const answers = await Promise.all(calls);
    expect(answers.every((a) => a.cert_chain.length > 0)).toBe(true);
    expect(await rateLimited(ca, 'signingPerIdentity')).toBe(0);
    client.close();
  });
});

describe('signing per identity and per agent', () => {
  let ca: CaFixture;
  let admin: AdminServiceClient;
  let anonymous: NodeAgentServiceClient;
  const clients: NodeAgentServiceClient[] = [];

  useCa({
      kubernetes: 'jwt',
      config: { limits: { signingPerIdentity: { rate: 0.001, burst: 2 }, signingPerAgent: { rate: 0.001, burst: 4 }, queue: NO_QUEUE } },
    }, (running) => ({ ca, admin, anonymous } = running));
  afterAll(() => {
    for (const client of clients) client.close();
  });

  async function attestAgent(name: string): Promise<{ spiffeId: string; client: NodeAgentServiceClient }> {
    const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: `spiffe://${TRUST_DOMAIN}/meshid/agent/${name}`, ttl_seconds: 600 });
    const { csr, keyPem } = await newCsr();
    const response: AgentSVIDResponse__Output = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
    const identity: ClientIdentity = { certChainPem: response.svid!.cert_chain.map(derToPem).join(''), keyPem };
    const client = ca.agentClient(identity);
    clients.push(client);
    return { spiffeId: token.token!.spiffe_id, client };
  }

  it('CreateCertificate is limited per attested SPIFFE ID, whatever the token', async () => {
    const client = ca.istioClient();
    const [first, second] = await Promise.all([ca.saToken('shop', 'web'), ca.saToken('shop', 'web')]);
    await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(first!));
    await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(second!));
    await expectStatus(
      rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(first!)),
      status.RESOURCE_EXHAUSTED,
      `rate limit for signing for spiffe://${TRUST_DOMAIN}/ns/shop/sa/web exceeded: 0.001/s burst 2 (limits.signingPerIdentity); retry later`,
    );
    // another identity has its own budget
    await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(await ca.saToken('shop', 'cart')));
    expect(await rateLimited(ca, 'signingPerIdentity')).toBe(1);
    client.close();
  });

  it('an agent\'s SVIDs count one each: a batch by its size, JWT-SVIDs and renewals too', async () => {
    const agent = await attestAgent('vm-limits');
    const entry = await rpc(admin, admin.CreateEntry, {
      spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/app`,
      parent_id: agent.spiffeId,
      selectors: ['unix:uid:1000'],
      ttl_seconds: 0,
      dns_names: [],
    });
    const request = async () => ({ csr: (await newCsr()).csr, entry_id: entry.id });
    await rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [await request(), await request()] });
    await rpc(agent.client, agent.client.MintJWTSVID, { entry_id: entry.id, audience: ['db'] });
    const message = `rate limit for signing for agent ${agent.spiffeId} exceeded: 0.001/s burst 4 (limits.signingPerAgent); retry later`;
    await expectStatus(rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [await request(), await request()] }), status.RESOURCE_EXHAUSTED, message);
    await rpc(agent.client, agent.client.RenewAgent, { csr: (await newCsr()).csr });
    await expectStatus(rpc(agent.client, agent.client.MintJWTSVID, { entry_id: entry.id, audience: ['db'] }), status.RESOURCE_EXHAUSTED, message);
    // another agent is not affected
    const other = await attestAgent('vm-other');
    await rpc(other.client, other.client.RenewAgent, { csr: (await newCsr()).csr });
    expect(await rateLimited(ca, 'signingPerAgent')).toBe(2);
  });
});

describe('limits switched off', () => {
  let ca: CaFixture;

  beforeAll(async () => {
    ca = await CaFixture.start({ kubernetes: 'jwt', config: { limits: { attestationPerIp: 'off', signingPerIdentity: 'off', queue: NO_QUEUE } } });
  });

  afterAll(async () => ca?.close());

  it('neither refused tokens nor signings are counted', async () => {
    const client = ca.istioClient();
    const expired = await ca.saToken('shop', 'web', { expiresAt: new Date(Date.now() - 600_000) });
    for (let i = 0; i < 60; i++) {
      await expectStatus(rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr }, bearer(expired)), status.UNAUTHENTICATED, /expired/);
    }
    expect(await rateLimited(ca, 'attestationPerIp')).toBe(0);
    client.close();
  });
});
