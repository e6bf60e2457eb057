// A node agent configured with several CA addresses, against two real CA replicas on one real PostgreSQL
// (sharing their data dir: the signing keys live there) and a dead address listed first. The agent attests
// past the dead address; when the replica it uses stops, its streams move to the other one, a renewal
// succeeds there, and nothing is pushed again: the new replica's bundle holds the same roots and keys under
// its own (lower) sequence numbers. Later changes of that replica still reach the agent. The tests run in
// order on one agent: a stays stopped once the second test stopped it.
import { X509Certificate } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSvid } from '../../node-agent/agent-svid-store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { CaClient } from '../../node-agent/ca-client.js';
import type { TrustBundleMaterial, WorkloadCaller } from '../../node-agent/identity-source.js';
import { CaFixture } from '../ca-server/fixture.js';
import { startPostgres, type PostgresCluster } from '../peers/postgres.js';
import { FRONTEND, writePolicies } from '../policy-distribution/support.js';
import { agentConfig, createEntry, createJoinToken, LogCapture, metricValue, nextEvent, startAgent, tempDir, TRUST_DOMAIN } from './agent-fixture.js';
import { pollUntil } from './interop/support/agent-fixture.js';

const caller: WorkloadCaller = { kind: 'unix', selectors: ['unix:uid:1000'] };
const serial = (svid: { chainDer: Buffer[] }) => new X509Certificate(svid.chainDer[0]!).serialNumber;

let root: string;
let postgres: PostgresCluster;
/** Accepts TCP connections and drops them at once (no TLS): a replica that is down, which counts its callers. */
let dead: Server;
let deadAddress: string;
let deadConnections = 0;
let a: CaFixture;
let b: CaFixture;
let agent: NodeAgent;
const agentLogs = new LogCapture();

/** A replica on the shared PostgreSQL database and data dir, distributing the same policy file. */
async function replica(name: string, connectionString: string, policyFile: string): Promise<CaFixture> {
  return CaFixture.start({
    kubernetes: 'disabled',
    dataDir: path.join(root, 'ca-data'),
    config: {
      datastore: { type: 'postgres', connectionString },
      policies: { paths: [policyFile] },
      listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(root, `${name}-admin.sock`) },
    },
  });
}

/** Resolves once the wall clock reached Unix second `second`: a CA numbers its bundles from its start second. */
const untilSecond = (second: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, second * 1000 - Date.now()) + 10));

/** The agent logged `message` for the stream now running to `target`. */
const restoredAt = (message: string, target: string) => agentLogs.entries().some((e) => e.msg === message && e.ca === target);

beforeAll(async () => {
  root = await tempDir();
  postgres = await startPostgres();
  const connectionString = await postgres.createDatabase();
  const policyFile = path.join(root, 'policies', 'mesh.yaml');
  await mkdir(path.dirname(policyFile));
  await writePolicies(policyFile, [FRONTEND]);
  dead = createServer((socket) => {
    deadConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));

  // b starts at least two seconds before a: the bundles b numbers next are still below any of a's.
  b = await replica('b', connectionString, policyFile);
  await untilSecond(b.server.bundle().sequence! + 2);
  a = await replica('a', connectionString, policyFile);

  const admin = a.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/failover');
  await createEntry(admin, { spiffeId: `spiffe://${TRUST_DOMAIN}/vm/web`, parentId: token.spiffeId, selectors: ['unix:uid:1000'] });
  admin.close();
  deadAddress = `127.0.0.1:${(dead.address() as { port: number }).port}`;
  const config = agentConfig(a, await tempDir(root), { joinToken: token.value, server: { address: [deadAddress, a.target, b.target] } });
  agent = await startAgent(config, agentLogs);
  await agent.entries!.refresh();
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await a?.close();
  await b?.close();
  dead?.close();
  await postgres?.close();
  await rm(root, { recursive: true, force: true });
});

describe('a node agent with several CA addresses', () => {
  it('attests past a dead address and serves workloads and policies from the first replica that answers', async () => {
    expect(agent.identity.current()!.spiffeId).toBe(`spiffe://${TRUST_DOMAIN}/meshid/agent/failover`);
    expect(deadConnections).toBeGreaterThanOrEqual(1);
    expect(agent.notReady()).toBeNull();
    expect((await agent.source.x509Svids(caller))[0]!.spiffeId).toBe(`spiffe://${TRUST_DOMAIN}/vm/web`);
    await pollUntil(() => agent.policies.current?.policies.length ?? 0, (n) => n > 0, 'the CA\'s policies at the agent');
    await pollUntil(() => a.server.rootRotation.staleAgents(), (n) => n === 0, 'the agent\'s acknowledgement of a\'s bundle');
  });

  it('moves its streams to the other replica when its replica stops, renews there, and pushes nothing again', async () => {
    const [workloadSvid] = await agent.source.x509Svids(caller);
    const bundle = agent.bundles.current()!;
    const bundleUpdates = await metricValue(agent.metrics.bundleUpdates);
    const policyUpdates = await metricValue(agent.metrics.policyUpdates, { result: 'applied' });
    const changes: TrustBundleMaterial[] = [];
    agent.bundles.on('change', (changed) => changes.push(changed));
    const deadBefore = deadConnections;
    expect(await b.server.rootRotation.staleAgents()).toBe(1);

    await a.closeServer();
    // b only counts the agent current once it acknowledged one of b's own bundles, which arrive on b's stream.
    await pollUntil(() => b.server.rootRotation.staleAgents(), (n) => n === 0, 'the agent\'s acknowledgement of b\'s bundle');
    await pollUntil(() => restoredAt('authorization policy stream from the CA restored', b.target), Boolean, 'the policy stream on b');
    expect(restoredAt('trust bundle stream from the CA restored', b.target)).toBe(true);

    const renewed = nextEvent<[AgentSvid]>(agent.identity, 'rotated');
    agent.identity.renewWithin(1);
    expect((await renewed)[0].spiffeId).toBe(agent.identity.current()!.spiffeId);
    // The renewal reopens both streams on the new SVID, on b again.
    await pollUntil(() => b.server.rootRotation.staleAgents(), (n) => n === 0, 'b\'s bundle acknowledged after the renewal');

    expect(changes).toEqual([]);
    expect(agent.bundles.current()).toBe(bundle);
    expect(await metricValue(agent.metrics.bundleUpdates)).toBe(bundleUpdates);
    expect(await metricValue(agent.metrics.policyUpdates, { result: 'applied' })).toBe(policyUpdates);
    expect(serial((await agent.source.x509Svids(caller))[0]!)).toBe(serial(workloadSvid!));
    // The dead address comes after b in the round, so nothing went there.
    expect(deadConnections).toBe(deadBefore);
  });

  it('applies the later changes of the new replica, although b numbers them below what a sent', async () => {
    const changed = nextEvent<[TrustBundleMaterial]>(agent.bundles, 'change');
    await b.server.rootRotation.prepare();
    const [bundle] = await changed;
    expect(bundle.rootsDer).toHaveLength(2);
    expect(bundle.sequence).toBeLessThan(a.server.bundle().sequence!);
    await pollUntil(() => b.server.rootRotation.staleAgents(), (n) => n === 0, 'the new bundle acknowledged to b');
  });
});

describe('the CA client\'s unary calls (with the agent\'s SVID, a stopped)', () => {
  const client = (addresses: string[]) => {
    const ca = new CaClient({ addresses, tlsServerName: 'localhost', callTimeoutMs: 3_000, reconnectBackoff: { initialMs: 50, maxMs: 400 } });
    const svid = agent.identity.current()!;
    ca.setTrustAnchors(b.bundlePem());
    ca.setIdentity(svid.chainPem, svid.privateKeyPem);
    return ca;
  };

  it('go on to the next address when one is unavailable, and stay there', async () => {
    const ca = client([a.target, b.target]);
    expect(await ca.listAgentEntries()).toHaveLength(1);
    expect(ca.address).toBe(b.target);
    ca.close();
  });

  it('reach the live one of a target\'s several addresses, as of a DNS name with several records', async () => {
    // The ipv4: resolver hands the channel both addresses at once, as the DNS resolver does for such a name.
    const ca = client([`ipv4:${deadAddress},${b.target}`]);
    expect(await ca.listAgentEntries()).toHaveLength(1);
    ca.close();
  });

  it('name every address and its failure when none answers', async () => {
    const ca = client([deadAddress, a.target]);
    await expect(ca.listAgentEntries()).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'ca_unavailable',
      message: expect.stringMatching(new RegExp(`^no CA replica answered ListAgentEntries \\(${deadAddress}: UNAVAILABLE .+; ${a.target}: UNAVAILABLE .+\\)$`)),
    });
    ca.close();
  });
});
