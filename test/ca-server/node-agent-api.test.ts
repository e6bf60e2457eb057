import { X509Certificate } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import { TrustDomain } from '../../core/spiffeid.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { AgentSVIDResponse__Output } from '../../protos/gen/meshid/v1/AgentSVIDResponse.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import type { TrustBundle__Output } from '../../protos/gen/meshid/v1/TrustBundle.js';
import { hashJoinToken, newJoinToken } from '../../plugins/attestor/join-token/token-text.js';
import { CaFixture, derToPem, expectStatus, grpcError, newCsr, rpc, TRUST_DOMAIN, useCa, type ClientIdentity } from './fixture.js';

let ca: CaFixture;
let admin: AdminServiceClient;
let anonymous: NodeAgentServiceClient;
const clients: NodeAgentServiceClient[] = [];

useCa({ kubernetes: 'disabled' }, (running) => ({ ca, admin, anonymous } = running));
afterAll(() => {
  for (const client of clients) client.close();
});

let agentCount = 0;

async function joinToken(options: { spiffeId?: string; ttlSeconds?: number } = {}): Promise<{ value: string; id: string; spiffeId: string }> {
  const res = await rpc(admin, admin.CreateJoinToken, { spiffe_id: options.spiffeId ?? '', ttl_seconds: options.ttlSeconds ?? 600 });
  return { value: res.value, id: res.token!.id, spiffeId: res.token!.spiffe_id };
}

/** An attested agent: its SPIFFE ID and mTLS identity (agent SVID chain + key). */
async function attestAgent(): Promise<{ spiffeId: string; identity: ClientIdentity; response: AgentSVIDResponse__Output }> {
  const token = await joinToken({ spiffeId: `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-${++agentCount}` });
  const { csr, keyPem } = await newCsr();
  const response = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
  return { spiffeId: token.spiffeId, identity: identityOf(response, keyPem), response };
}

function identityOf(response: AgentSVIDResponse__Output, keyPem: string): ClientIdentity {
  return { certChainPem: response.svid!.cert_chain.map(derToPem).join(''), keyPem };
}

function mtlsClient(identity: ClientIdentity): NodeAgentServiceClient {
  const client = ca.agentClient(identity);
  clients.push(client);
  return client;
}

describe('AttestAgent with join tokens', () => {
  it('issues the agent SVID for the token\'s SPIFFE ID, with the trust bundle', async () => {
    const token = await joinToken();
    expect(token.spiffeId).toBe(`spiffe://${TRUST_DOMAIN}/meshid/agent/join_token/${token.id}`);
    const { csr, privateKey } = await newCsr();
    const res = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
    expect(res.svid!.spiffe_id).toBe(token.spiffeId);
    const violations = checkX509SvidProfile(res.svid!.cert_chain, {
      expectedSpiffeId: token.spiffeId,
      trustDomain: TrustDomain.parse(TRUST_DOMAIN),
      privateKey,
      roots: res.bundle!.x509_authorities,
      now: new Date(),
    });
    expect(violations).toEqual([]);
    expect(res.svid!.expires_at).toBe(Math.floor(Date.parse(new X509Certificate(res.svid!.cert_chain[0]!).validTo) / 1000));
    expect(res.bundle!.trust_domain).toBe(`spiffe://${TRUST_DOMAIN}`);
    expect(res.bundle!.x509_authorities.map(derToPem).join('')).toBe(ca.bundlePem());

    const agents = await rpc(admin, admin.ListAgents, {});
    expect(agents.agents.find((a) => a.spiffe_id === token.spiffeId)).toMatchObject({
      attestation_type: 'join_token',
      selectors: [`join_token:id:${token.id}`],
      new_serial_number: '',
    });
  });

  it('refuses the same join token a second time: UNAUTHENTICATED "already been used"', async () => {
    const token = await joinToken();
    await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr });
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr }),
      status.UNAUTHENTICATED,
      `join token ${token.id} has already been used; each token attests one agent — create a new one`,
    );
  });

  it('refuses an expired join token', async () => {
    // Stored directly with a past expiry: the server's own clock decides, no waiting.
    const { id, token } = newJoinToken();
    const past = new Date(Date.now() - 60_000);
    await ca.server.store.createJoinToken({
      id,
      tokenHash: hashJoinToken(token),
      spiffeId: `spiffe://${TRUST_DOMAIN}/meshid/agent/expired`,
      createdAt: new Date(past.getTime() - 600_000),
      expiresAt: past,
    });
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr()).csr }),
      status.UNAUTHENTICATED,
      `join token ${id} has expired; create a new one with \`meshid token create\``,
    );
  });

  it('refuses a revoked join token', async () => {
    const token = await joinToken();
    await rpc(admin, admin.RevokeJoinToken, { id: token.id });
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr }),
      status.UNAUTHENTICATED,
      `join token ${token.id} was revoked; create a new one with \`meshid token create\``,
    );
  });

  it('refuses an unknown join token', async () => {
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: newJoinToken().token, csr: (await newCsr()).csr }),
      status.UNAUTHENTICATED,
      /^join token is not recognised/,
    );
  });

  it('refuses a request with neither credential', async () => {
    await expectStatus(rpc(anonymous, anonymous.AttestAgent, { csr: (await newCsr()).csr }), status.INVALID_ARGUMENT, 'one of join_token or k8s_token is required');
  });

  it('20 concurrent attestations with one token: exactly one wins', async () => {
    const token = await joinToken();
    const csrs = await Promise.all(Array.from({ length: 20 }, () => newCsr()));
    const results = await Promise.allSettled(csrs.map(({ csr }) => rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as ServiceError);
    expect(won.length).toBe(1);
    expect(lost.length).toBe(19);
    for (const err of lost) {
      expect({ code: err.code, details: err.details }).toEqual({ code: status.UNAUTHENTICATED, details: expect.stringContaining('already been used') });
    }
  });
});

describe('agent mTLS APIs', () => {
  it('RenewAgent with the agent SVID as client certificate issues a new SVID for the same agent', async () => {
    const agent = await attestAgent();
    const client = mtlsClient(agent.identity);
    const res = await rpc(client, client.RenewAgent, { csr: (await newCsr()).csr });
    expect(res.svid!.spiffe_id).toBe(agent.spiffeId);
    const before = new X509Certificate(agent.response.svid!.cert_chain[0]!);
    const after = new X509Certificate(res.svid!.cert_chain[0]!);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.subjectAltName).toBe(`URI:${agent.spiffeId}`);
    // The renewed SVID is pending until the agent first presents it; the presented one stays current.
    const record = await ca.server.store.getAgent(agent.spiffeId);
    expect(BigInt(`0x${record!.serialNumber}`)).toBe(BigInt(`0x${before.serialNumber}`));
    expect(BigInt(`0x${record!.newSerialNumber}`)).toBe(BigInt(`0x${after.serialNumber}`));
  });

  it('RenewAgent without a client certificate is UNAUTHENTICATED', async () => {
    await expectStatus(rpc(anonymous, anonymous.RenewAgent, { csr: (await newCsr()).csr }), status.UNAUTHENTICATED, /^no client certificate/);
  });

  it('an evicted agent is PERMISSION_DENIED on every agent API; a new join token re-admits it, never its old SVID', async () => {
    const agent = await attestAgent();
    await rpc(admin, admin.EvictAgent, { spiffe_id: agent.spiffeId });
    const client = mtlsClient(agent.identity);
    const evicted = `${agent.spiffeId} is not a registered node agent (evicted, or never attested); attest it again`;
    await expectStatus(rpc(client, client.RenewAgent, { csr: (await newCsr()).csr }), status.PERMISSION_DENIED, evicted);
    await expectStatus(rpc(client, client.ListAgentEntries, {}), status.PERMISSION_DENIED, evicted);
    await expectStatus(
      rpc(client, client.MintWorkloadSVIDs, { requests: [{ csr: (await newCsr()).csr, entry_id: 'x' }] }),
      status.PERMISSION_DENIED,
      evicted,
    );

    const token = await joinToken({ spiffeId: agent.spiffeId });
    const { csr, keyPem } = await newCsr();
    const readmitted = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
    const superseded = new RegExp(`^agent SVID serial [0-9a-f]+ of ${agent.spiffeId} is no longer valid: a newer agent SVID replaced it$`);
    await expectStatus(rpc(client, client.RenewAgent, { csr: (await newCsr()).csr }), status.PERMISSION_DENIED, superseded);
    const fresh = mtlsClient(identityOf(readmitted, keyPem));
    const res = await rpc(fresh, fresh.RenewAgent, { csr: (await newCsr()).csr });
    expect(res.svid!.spiffe_id).toBe(agent.spiffeId);
  });

  it('a workload SVID is not an agent credential', async () => {
    const agent = await attestAgent();
    const entry = await rpc(admin, admin.CreateEntry, {
      spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/imposter`,
      parent_id: agent.spiffeId,
      selectors: ['unix:uid:1000'],
      ttl_seconds: 0,
      dns_names: [],
    });
    const { csr, keyPem } = await newCsr();
    const minted = await rpc(mtlsClient(agent.identity), clients.at(-1)!.MintWorkloadSVIDs, { requests: [{ csr, entry_id: entry.id }] });
    const workload = mtlsClient({ certChainPem: minted.svids[0]!.cert_chain.map(derToPem).join(''), keyPem });
    await expectStatus(
      rpc(workload, workload.RenewAgent, { csr: (await newCsr()).csr }),
      status.PERMISSION_DENIED,
      `spiffe://${TRUST_DOMAIN}/vm/imposter is not a registered node agent (evicted, or never attested); attest it again`,
    );
  });

  it('MintWorkloadSVIDs signs for entries parented to the caller and refuses other agents\' entries', async () => {
    const [mine, other] = [await attestAgent(), await attestAgent()];
    const entry = (parent: string, name: string, ttl = 0) =>
      rpc(admin, admin.CreateEntry, {
        spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/${name}`,
        parent_id: parent,
        selectors: ['unix:uid:1000'],
        ttl_seconds: ttl,
        dns_names: ['billing.internal'],
      });
    const own = await entry(mine.spiffeId, `billing-${agentCount}`, 900);
    const foreign = await entry(other.spiffeId, `payroll-${agentCount}`);
    const client = mtlsClient(mine.identity);

    const listed = await rpc(client, client.ListAgentEntries, {});
    expect(listed.entries.map((e) => e.id)).toEqual([own.id]);

    const { csr, privateKey } = await newCsr();
    const res = await rpc(client, client.MintWorkloadSVIDs, { requests: [{ csr, entry_id: own.id, ttl_seconds: 0 }] });
    expect(res.svids.map((s) => s.spiffe_id)).toEqual([own.spiffe_id]);
    const leaf = new X509Certificate(res.svids[0]!.cert_chain[0]!);
    expect(leaf.subjectAltName).toBe(`URI:${own.spiffe_id}, DNS:billing.internal`);
    expect((Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000).toBe(900 + 10);
    expect(checkX509SvidProfile(res.svids[0]!.cert_chain, { expectedSpiffeId: own.spiffe_id, privateKey, roots: mine.response.bundle!.x509_authorities })).toEqual([]);

    await expectStatus(
      rpc(client, client.MintWorkloadSVIDs, { requests: [{ csr: (await newCsr()).csr, entry_id: foreign.id }] }),
      status.PERMISSION_DENIED,
      `registration entry "${foreign.id}" does not exist or is not parented to ${mine.spiffeId}`,
    );
  });

  it('WatchBundle sends the current bundle at once', async () => {
    const agent = await attestAgent();
    const client = mtlsClient(agent.identity);
    const stream = client.WatchBundle({});
    try {
      const first = await new Promise<TrustBundle__Output>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      expect(first.trust_domain).toBe(`spiffe://${TRUST_DOMAIN}`);
      expect(first.x509_authorities.map(derToPem).join('')).toBe(ca.bundlePem());
      const jwks = JSON.parse(first.jwks) as { keys: { use: string; x5c?: string[] }[] };
      const x509Keys = jwks.keys.filter((k) => k.use === 'x509-svid').map((k) => k.x5c);
      expect(x509Keys).toEqual(first.x509_authorities.map((der) => [der.toString('base64')]));
    } finally {
      stream.cancel();
    }
  });

  it('WatchBundle without an agent SVID ends with UNAUTHENTICATED', async () => {
    const stream = anonymous.WatchBundle({});
    const err = await grpcError(
      new Promise((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
      }),
    );
    expect(err.code).toBe(status.UNAUTHENTICATED);
  });
});
