import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { AgentSVIDResponse__Output } from '../../protos/gen/meshid/v1/AgentSVIDResponse.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import { CaFixture, derToPem, expectStatus, grpcError, newCsr, rpc, TRUST_DOMAIN, type ClientIdentity } from './fixture.js';

/**
 * Regression tests for issue #9, each through the real gRPC APIs as an attacker holding one stolen
 * certificate or token would use them. Every one of them failed before serial binding, bans and renewal
 * re-authorization existed.
 */

const NODE_ACCOUNT = 'meshid-system/meshid-agent';
let ca: CaFixture;
let admin: AdminServiceClient;
let anonymous: NodeAgentServiceClient;
const closers: { close(): void }[] = [];

beforeAll(async () => {
  ca = await CaFixture.start({ kubernetes: 'jwt', trustedNodeAccounts: [NODE_ACCOUNT], config: { serverDnsNames: ['localhost', 'meshid-ca.meshid-system.svc'] } });
  admin = track(ca.adminClient());
  anonymous = track(ca.agentClient());
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ca?.close();
});

function track<T extends { close(): void }>(client: T): T {
  closers.push(client);
  return client;
}

let count = 0;
interface Agent {
  spiffeId: string;
  identity: ClientIdentity;
  client: NodeAgentServiceClient;
  serial: string;
}

function agentFrom(res: AgentSVIDResponse__Output, keyPem: string): Agent {
  const identity = { certChainPem: res.svid!.cert_chain.map(derToPem).join(''), keyPem };
  const serial = new X509Certificate(res.svid!.cert_chain[0]!).serialNumber.toLowerCase().replace(/^(00)+/, '');
  return { spiffeId: res.svid!.spiffe_id, identity, client: track(ca.agentClient(identity)), serial };
}

async function joinToken(spiffeId = `spiffe://${TRUST_DOMAIN}/meshid/agent/tb-${++count}`): Promise<string> {
  return (await rpc(admin, admin.CreateJoinToken, { spiffe_id: spiffeId, ttl_seconds: 600 })).value;
}

async function vmAgent(spiffeId?: string): Promise<Agent> {
  const { csr, keyPem } = await newCsr();
  return agentFrom(await rpc(anonymous, anonymous.AttestAgent, { join_token: await joinToken(spiffeId), csr }), keyPem);
}

async function nodeAgent(node: string): Promise<Agent> {
  const { csr, keyPem } = await newCsr();
  const [namespace, account] = NODE_ACCOUNT.split('/') as [string, string];
  const token = await ca.saToken(namespace, account, { pod: { name: 'agent-pod', uid: 'agent-uid' }, node: { name: node, uid: `${node}-uid` } });
  return agentFrom(await rpc(anonymous, anonymous.AttestAgent, { k8s_token: token, csr }), keyPem);
}

async function renew(agent: Agent): Promise<Agent> {
  const { csr, keyPem } = await newCsr();
  return agentFrom(await rpc(agent.client, agent.client.RenewAgent, { csr }), keyPem);
}

async function entry(parentId: string, options: { ttl?: number; name?: string } = {}) {
  return rpc(admin, admin.CreateEntry, {
    spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/${options.name ?? `svc-${++count}`}`,
    parent_id: parentId,
    selectors: ['unix:uid:1000'],
    ttl_seconds: options.ttl ?? 0,
    dns_names: [],
  });
}

/** A workload SVID minted by `agent` for `entryId`, as an mTLS identity for the Istio API. */
async function workloadSvid(agent: Agent, entryId: string): Promise<{ identity: ClientIdentity; istio: IstioCertificateServiceClient; spiffeId: string }> {
  const { csr, keyPem } = await newCsr();
  const res = await rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [{ csr, entry_id: entryId }] });
  const identity = { certChainPem: res.svids[0]!.cert_chain.map(derToPem).join(''), keyPem };
  return { identity, istio: track(ca.istioClient({ identity })), spiffeId: res.svids[0]!.spiffe_id };
}

function createCertificate(client: IstioCertificateServiceClient, csr: string, validity = 0) {
  return rpc(client, client.CreateCertificate, { csr, validity_duration: validity });
}

const lifetime = (pem: string) => {
  const leaf = new X509Certificate(pem);
  return (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000 - 10;
};

/** The first message or the status error of a server stream. */
function firstEvent<T>(stream: NodeJS.EventEmitter): Promise<{ data: T } | { error: { code: number; details: string } }> {
  return new Promise((resolve) => {
    stream.once('data', (data: T) => resolve({ data }));
    stream.once('error', (error: { code: number; details: string }) => resolve({ error }));
  });
}

describe('an agent SVID is no workload credential', () => {
  it('CreateCertificate with an agent SVID is PERMISSION_DENIED: it cannot buy itself a long-lived SVID', async () => {
    const agent = await vmAgent();
    const istio = track(ca.istioClient({ identity: agent.identity }));
    await expectStatus(
      createCertificate(istio, (await newCsr({ spiffeId: agent.spiffeId })).csr, 86_400),
      status.PERMISSION_DENIED,
      `${agent.spiffeId} is a node agent ID: node agents use meshid.v1.NodeAgentService, not a workload identity`,
    );
  });

});

describe('agent SVIDs are bound to the agent record', () => {
  it('a superseded agent SVID stops authenticating once the renewed one has been used, on every API', async () => {
    const old = await vmAgent();
    const renewed = await renew(old);
    // Until the new SVID is presented, the old one still works (the renewal answer may have been lost).
    await rpc(old.client, old.client.ListAgentEntries, {});
    await rpc(renewed.client, renewed.client.ListAgentEntries, {});
    const superseded = `agent SVID serial ${old.serial} of ${old.spiffeId} is no longer valid: a newer agent SVID replaced it`;
    await expectStatus(rpc(old.client, old.client.RenewAgent, { csr: (await newCsr()).csr }), status.PERMISSION_DENIED, superseded);
    await expectStatus(rpc(old.client, old.client.ListAgentEntries, {}), status.PERMISSION_DENIED, superseded);
    await expectStatus(rpc(old.client, old.client.ReportBundle, { sequence: 1 }), status.PERMISSION_DENIED, superseded);
    expect(await firstEvent(old.client.WatchBundle({}))).toEqual({ error: expect.objectContaining({ code: status.PERMISSION_DENIED, details: superseded }) });
    // The current one keeps working, and renews in turn.
    await renew(renewed);
  });

  it('a stream opened with the old SVID ends when the renewed SVID takes over', async () => {
    const old = await vmAgent();
    const stream = old.client.WatchBundle({});
    expect(await firstEvent(stream)).toMatchObject({ data: expect.anything() });
    const ended = firstEvent(stream);
    const renewed = await renew(old);
    await rpc(renewed.client, renewed.client.ListAgentEntries, {});
    expect(await ended).toEqual({
      error: expect.objectContaining({ code: status.PERMISSION_DENIED, details: expect.stringContaining('a newer agent SVID replaced the one this stream was opened with') }),
    });
  });

  it('two renewals in a row: only the newest pending SVID is accepted', async () => {
    const agent = await vmAgent();
    const lost = await renew(agent);
    const newest = await renew(agent);
    await expectStatus(rpc(lost.client, lost.client.ListAgentEntries, {}), status.PERMISSION_DENIED, /is no longer valid: a newer agent SVID replaced it$/);
    await rpc(newest.client, newest.client.ListAgentEntries, {});
  });
});

describe('evict and ban', () => {
  it('an evicted Kubernetes agent may attest again, but its old SVID stays refused', async () => {
    const first = await nodeAgent('worker-evict');
    await rpc(admin, admin.EvictAgent, { spiffe_id: first.spiffeId });
    const again = await nodeAgent('worker-evict');
    expect(again.spiffeId).toBe(first.spiffeId);
    await expectStatus(rpc(first.client, first.client.ListAgentEntries, {}), status.PERMISSION_DENIED, /is no longer valid: a newer agent SVID replaced it$/);
    await rpc(again.client, again.client.ListAgentEntries, {});
  });

  it('a banned Kubernetes agent is refused at re-attestation, its open streams end at once, and unban lets it back', async () => {
    const agent = await nodeAgent('worker-ban');
    const stream = agent.client.WatchBundle({});
    expect(await firstEvent(stream)).toMatchObject({ data: expect.anything() });
    const ended = firstEvent(stream);
    await rpc(admin, admin.BanAgent, { spiffe_id: agent.spiffeId, reason: 'node compromised' });
    expect(await ended).toEqual({ error: expect.objectContaining({ code: status.PERMISSION_DENIED, details: `agent ${agent.spiffeId} was banned by an operator` }) });

    const banned = `agent ${agent.spiffeId} is banned; its SVIDs are refused until \`meshid agent unban\``;
    await expectStatus(rpc(agent.client, agent.client.RenewAgent, { csr: (await newCsr()).csr }), status.PERMISSION_DENIED, banned);
    await expectStatus(rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [{ csr: (await newCsr()).csr, entry_id: 'x' }] }), status.PERMISSION_DENIED, banned);
    expect(await firstEvent(agent.client.WatchPolicies({}))).toEqual({ error: expect.objectContaining({ code: status.PERMISSION_DENIED, details: banned }) });
    const refused = `agent ${agent.spiffeId} is banned (node compromised); an operator must lift the ban with \`meshid agent unban\``;
    expect(await grpcError(nodeAgent('worker-ban'))).toMatchObject({ code: status.PERMISSION_DENIED, details: refused });

    await rpc(admin, admin.UnbanAgent, { spiffe_id: agent.spiffeId });
    const back = await nodeAgent('worker-ban');
    await rpc(back.client, back.client.ListAgentEntries, {});
    await expectStatus(rpc(agent.client, agent.client.ListAgentEntries, {}), status.PERMISSION_DENIED, /is no longer valid/);
  });

  it('a banned join-token agent is refused with a new join token, and the refusal leaves that token unused', async () => {
    const agent = await vmAgent();
    await rpc(admin, admin.BanAgent, { spiffe_id: agent.spiffeId, reason: '' });
    const token = await joinToken(agent.spiffeId);
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr()).csr }),
      status.PERMISSION_DENIED,
      `agent ${agent.spiffeId} is banned; an operator must lift the ban with \`meshid agent unban\``,
    );
    await rpc(admin, admin.UnbanAgent, { spiffe_id: agent.spiffeId });
    await rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr()).csr });
  });

  it('bans survive a CA restart', async () => {
    const agent = { spiffeId: `spiffe://${TRUST_DOMAIN}/meshid/agent/tb-restart` };
    const restarted = await CaFixture.start({ kubernetes: 'disabled' });
    const dataDir = restarted.config.dataDir;
    try {
      const a = restarted.adminClient();
      const token = (await rpc(a, a.CreateJoinToken, { spiffe_id: agent.spiffeId, ttl_seconds: 600 })).value;
      await rpc(a, a.BanAgent, { spiffe_id: agent.spiffeId, reason: 'persisted' });
      a.close();
      await restarted.closeServer();
      const again = await CaFixture.start({ kubernetes: 'disabled', dataDir });
      const bootstrap = again.agentClient();
      try {
        await expectStatus(
          rpc(bootstrap, bootstrap.AttestAgent, { join_token: token, csr: (await newCsr()).csr }),
          status.PERMISSION_DENIED,
          `agent ${agent.spiffeId} is banned (persisted); an operator must lift the ban with \`meshid agent unban\``,
        );
      } finally {
        bootstrap.close();
        await again.close();
      }
    } finally {
      await restarted.close();
    }
  });
});

describe('join tokens are consumed only by a valid request', () => {
  it('a bad CSR, or a CSR for another ID, leaves the token usable; the valid request then consumes it once', async () => {
    const spiffeId = `spiffe://${TRUST_DOMAIN}/meshid/agent/tb-csr-${++count}`;
    const token = await joinToken(spiffeId);
    await expectStatus(rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: 'not a csr' }), status.INVALID_ARGUMENT, /.+/);
    await expectStatus(
      rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr({ spiffeId: `spiffe://${TRUST_DOMAIN}/meshid/agent/other` })).csr }),
      status.INVALID_ARGUMENT,
      /.+/,
    );
    const tokens = await rpc(admin, admin.ListJoinTokens, {});
    expect(tokens.tokens.find((t) => t.spiffe_id === spiffeId)).toMatchObject({ used_at: 0 });
    await rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr()).csr });
    await expectStatus(rpc(anonymous, anonymous.AttestAgent, { join_token: token, csr: (await newCsr()).csr }), status.UNAUTHENTICATED, /already been used/);
  });
});

describe('registration entries', () => {
  it('cannot claim meshid\'s reserved IDs', async () => {
    const agent = await vmAgent();
    for (const spiffeId of [agent.spiffeId, `spiffe://${TRUST_DOMAIN}/meshid/server`, `spiffe://${TRUST_DOMAIN}/meshid/anything`]) {
      await expectStatus(
        rpc(admin, admin.CreateEntry, { spiffe_id: spiffeId, parent_id: agent.spiffeId, selectors: ['unix:uid:0'], ttl_seconds: 0, dns_names: [] }),
        status.INVALID_ARGUMENT,
        `spiffe_id ${spiffeId} is reserved: paths under /meshid/ belong to meshid's node agents and servers`,
      );
    }
  });

  it('cannot claim a DNS name of the CA server, exactly or by wildcard', async () => {
    const agent = await vmAgent();
    for (const [name, server] of [['localhost', 'localhost'], ['MESHID-CA.meshid-system.svc', 'meshid-ca.meshid-system.svc'], ['*.meshid-system.svc', 'meshid-ca.meshid-system.svc']]) {
      await expectStatus(
        rpc(admin, admin.CreateEntry, { spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/x`, parent_id: agent.spiffeId, selectors: ['unix:uid:0'], ttl_seconds: 0, dns_names: [name!] }),
        status.INVALID_ARGUMENT,
        `dns_names: "${name}" would cover the CA server's name "${server}" (serverDnsNames); an SVID with it could pose as the CA`,
      );
    }
  });

  it('must be parented to a node agent ID', async () => {
    await expectStatus(
      rpc(admin, admin.CreateEntry, { spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/x`, parent_id: `spiffe://${TRUST_DOMAIN}/ns/a/sa/b`, selectors: ['unix:uid:0'], ttl_seconds: 0, dns_names: [] }),
      status.INVALID_ARGUMENT,
      `parent_id spiffe://${TRUST_DOMAIN}/ns/a/sa/b is not a node agent ID (spiffe://${TRUST_DOMAIN}/meshid/agent/...)`,
    );
  });

  it('an agent cannot raise an entry\'s TTL', async () => {
    const agent = await vmAgent();
    const e = await entry(agent.spiffeId, { ttl: 900 });
    const res = await rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [{ csr: (await newCsr()).csr, entry_id: e.id, ttl_seconds: 86_400 }] });
    expect(lifetime(derToPem(res.svids[0]!.cert_chain[0]!))).toBe(900);
  });
});

describe('renewal over mTLS on the Istio API is re-authorized', () => {
  it('keeps the entry TTL and the original lifetime as a cap', async () => {
    const agent = await vmAgent();
    const e = await entry(agent.spiffeId, { ttl: 900 });
    const workload = await workloadSvid(agent, e.id);
    const res = await createCertificate(workload.istio, (await newCsr()).csr, 86_400);
    expect(lifetime(res.cert_chain[0]!)).toBe(900);
  });

  it('a Kubernetes SVID renewed over mTLS never outlives the one presented', async () => {
    const token = await ca.saToken('shop', 'web');
    const first = await newCsr();
    const issued = await createCertificate(track(ca.istioClient({ bearer: () => token })), first.csr, 600);
    const istio = track(ca.istioClient({ identity: { certChainPem: issued.cert_chain.slice(0, -1).join(''), keyPem: first.keyPem } }));
    const renewed = await createCertificate(istio, (await newCsr()).csr, 86_400);
    expect(lifetime(renewed.cert_chain[0]!)).toBe(600);
  });

  it('deleting the entry stops renewal at once, on the Istio API and for the agent', async () => {
    const agent = await vmAgent();
    const e = await entry(agent.spiffeId);
    const workload = await workloadSvid(agent, e.id);
    await createCertificate(workload.istio, (await newCsr()).csr);
    await rpc(admin, admin.DeleteEntry, { id: e.id });
    await expectStatus(
      createCertificate(workload.istio, (await newCsr()).csr),
      status.PERMISSION_DENIED,
      `${workload.spiffeId} is not authorized any more: no registration entry names it and it is not a Kubernetes service-account ID`,
    );
    await expectStatus(
      rpc(agent.client, agent.client.MintWorkloadSVIDs, { requests: [{ csr: (await newCsr()).csr, entry_id: e.id }] }),
      status.PERMISSION_DENIED,
      `registration entry "${e.id}" does not exist or is not parented to ${agent.spiffeId}`,
    );
  });

  it('a workload SVID of an evicted or banned agent\'s entry cannot renew', async () => {
    for (const remove of ['EvictAgent', 'BanAgent'] as const) {
      const agent = await vmAgent();
      const e = await entry(agent.spiffeId);
      const workload = await workloadSvid(agent, e.id);
      if (remove === 'EvictAgent') await rpc(admin, admin.EvictAgent, { spiffe_id: agent.spiffeId });
      else await rpc(admin, admin.BanAgent, { spiffe_id: agent.spiffeId, reason: '' });
      await expectStatus(
        createCertificate(workload.istio, (await newCsr()).csr),
        status.PERMISSION_DENIED,
        `no registration entry for ${workload.spiffeId} has a live parent agent (evicted or banned); it cannot renew`,
      );
    }
  });
});

describe('audit log', () => {
  it('records every admin operation and every refusal of an authenticated caller as JSON lines', async () => {
    const agent = await vmAgent();
    await rpc(admin, admin.BanAgent, { spiffe_id: agent.spiffeId, reason: 'audit' });
    await grpcError(rpc(agent.client, agent.client.ListAgentEntries, {}));
    await grpcError(rpc(admin, admin.EvictAgent, { spiffe_id: `spiffe://${TRUST_DOMAIN}/meshid/agent/nobody` }));
    // Written synchronously: every record is on disk when the call has been answered.
    const events = (await readFile(ca.config.auditLog, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { audit: unknown }).audit);
    expect(events).toContainEqual({
      actor: 'admin',
      action: 'meshid.v1.AdminService/BanAgent',
      decision: 'allowed',
      request: { spiffe_id: agent.spiffeId, reason: 'audit' },
    });
    expect(events).toContainEqual(expect.objectContaining({
      actor: 'admin',
      action: 'meshid.v1.AdminService/EvictAgent',
      decision: 'denied',
      reason: 'not_found',
    }));
    expect(events).toContainEqual({
      actor: agent.spiffeId,
      action: 'meshid.v1.NodeAgentService/ListAgentEntries',
      decision: 'denied',
      reason: 'banned_agent',
      message: `agent ${agent.spiffeId} is banned; its SVIDs are refused until \`meshid agent unban\``,
    });
    // Join token values (in CreateJoinToken answers) never reach the audit log.
    const text = await readFile(ca.config.auditLog, 'utf8');
    expect(text).not.toMatch(/"value"/);
  });
});

