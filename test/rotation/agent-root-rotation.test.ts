// Root rotation with a real CA server and real VM-mode node agents (join tokens, 8-second SVIDs): the new
// root reaches the agents and they acknowledge it, activation waits for every agent, workload and agent SVIDs
// move to the new root within seconds, the old root leaves only once its SVIDs have expired, and a CA
// restart in the middle resumes the same rotation.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CHANGE_REISSUE_WINDOW_MS, type NodeAgent } from '../../node-agent/agent.js';
import type { AgentSvid } from '../../node-agent/agent-svid-store.js';
import type { WorkloadCaller, X509SvidMaterial } from '../../node-agent/identity-source.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import { expectStatus, type CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, nextEvent, startAgent, tempDir, TRUST_DOMAIN } from '../node-agent/agent-fixture.js';
import { pollUntil } from '../node-agent/interop/support/agent-fixture.js';
import { freePort } from '../support/free-port.js';
import { chainsTo, idOf, MAX_SVID_TTL_SECONDS, rootDer, rotate, startRotationCa, until } from './support.js';

const WORKLOAD: WorkloadCaller = { kind: 'unix', selectors: ['unix:uid:1001'] };
/** Late renewal (85-95 % of the lifetime), so a re-issue within the window cannot be a scheduled renewal. */
const LATE_RENEWAL = { rotation: { fraction: 0.9, jitter: 0.05 } };

/** Whether `at` came before the earliest scheduled renewal of an SVID received at `receivedAt`. */
const beforeScheduledRenewal = (at: number, receivedAt: number, notAfter: Date) =>
  at < receivedAt + 0.85 * (notAfter.getTime() - receivedAt);

let dir: string;
let dataDir: string;
let port: number;
let ca: CaFixture;
let admin: AdminServiceClient;
let agent: NodeAgent;
let laggard: { agent: NodeAgent | undefined; config: ReturnType<typeof agentConfig>; id: string };

/** The workload's SVIDs as the agent pushes them to watchers (SDS, Workload API), and vm-1's agent SVIDs. */
const pushed: { at: number; svid: X509SvidMaterial }[] = [];
const agentSvids: { at: number; svid: AgentSvid }[] = [];

const restartCa = async () => {
  admin.close();
  await ca.close();
  ca = await startRotationCa(dataDir, port);
  admin = ca.adminClient();
};
const allAcknowledged = () =>
  pollUntil(() => rotate.status(admin), (s) => s.agents_active === 2 && s.agents_acknowledged === 2, 'both agents to acknowledge the bundle');
const rootsOf = (a: NodeAgent) => a.source.ownBundle().rootsDer.map(idOf);

beforeAll(async () => {
  dir = await tempDir();
  dataDir = path.join(dir, 'ca-data');
  port = await freePort();
  ca = await startRotationCa(dataDir, port);
  admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/vm-1');
  agent = await startAgent(agentConfig(ca, await tempDir(dir), { joinToken: token.value, ...LATE_RENEWAL }));
  agent.identity.on('rotated', (svid) => agentSvids.push({ at: Date.now(), svid }));
  await createEntry(admin, { spiffeId: `spiffe://${TRUST_DOMAIN}/vm/api`, parentId: token.spiffeId, selectors: ['unix:uid:1001'] });
  await agent.entries!.refresh();
  agent.source.watchX509Svids(WORKLOAD, ([svid]) => pushed.push({ at: Date.now(), svid: svid! }));
  await pollUntil(() => pushed.length, (n) => n > 0, 'the first workload SVID');

  const other = await createJoinToken(admin, '/meshid/agent/vm-2');
  const config = agentConfig(ca, await tempDir(dir), { joinToken: other.value, ...LATE_RENEWAL });
  laggard = { agent: await startAgent(config), config, id: other.spiffeId };
  await allAcknowledged();
});

afterAll(async () => {
  await agent?.close();
  await laggard?.agent?.close();
  admin?.close();
  await ca?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('root rotation through real node agents', () => {
  let oldRoot: string;
  let newRoot: string;
  let activatedAt: number;
  /** The workload SVID in use when the rotation was activated (received just before). */
  let before: { at: number; svid: X509SvidMaterial };

  it('prepare: every running agent gets both roots, persists them and acknowledges the bundle', async () => {
    oldRoot = (await rotate.status(admin)).authorities.find((a) => a.kind === 'root' && a.state === 'active')!.id;
    // vm-2 goes down before the new root is published: it stays an active agent that has not seen it
    await laggard.agent!.close();
    laggard.agent = undefined;

    const twoRoots = nextEvent(agent.bundles, 'change', (b: { rootsDer: Buffer[] }) => b.rootsDer.length === 2);
    const status = await rotate.prepare(admin);
    expect(status.phase).toBe('prepared');
    newRoot = status.authorities.find((a) => a.kind === 'root' && a.state === 'prepared')!.id;
    expect(status.authorities.map((a) => `${a.kind}:${a.state}`)).toEqual(['root:active', 'root:prepared', 'intermediate:active', 'intermediate:prepared']);
    await twoRoots;
    expect(rootsOf(agent)).toEqual([oldRoot, newRoot]);
    // persisted for restarts (written right after the change is announced)
    const persisted = () => readFile(path.join(agent.config.dataDir, 'bundle.pem'), 'utf8');
    await pollUntil(persisted, (pem) => pem.match(/BEGIN CERTIFICATE/g)?.length === 2, 'bundle.pem with both roots');

    const acknowledged = await pollUntil(() => rotate.status(admin), (s) => s.agents_acknowledged === 1, 'vm-1 to acknowledge');
    expect(acknowledged).toMatchObject({ agents_active: 2, agents_pending: [laggard.id] });

    // what an alert would watch: every authority's expiry, the rotation state, agents on a stale bundle
    const metrics = await (await fetch(`${ca.metricsUrl}/metrics`)).text();
    const gauge = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const next = status.authorities.find((a) => a.id === newRoot)!;
    expect(gauge(`meshid_ca_authorities_expiry_timestamp_seconds{id="${newRoot}",kind="root",state="prepared"}`)).toBe(next.not_after);
    expect(gauge(`meshid_ca_authorities_expiry_timestamp_seconds{id="${oldRoot}",kind="root",state="active"}`)).toBeGreaterThan(0);
    expect(gauge('meshid_ca_root_rotation_state{state="prepared"}')).toBe(1);
    expect(gauge('meshid_ca_root_rotation_state{state="idle"}')).toBe(0);
    expect(gauge('meshid_ca_agents_stale_bundle')).toBe(1);
  });

  it('activate: refused while an agent has not acknowledged the new root, allowed once it has', async () => {
    await expectStatus(
      rotate.activate(admin),
      grpc.status.FAILED_PRECONDITION,
      `1 of 2 active agents have not acknowledged a trust bundle with the new root ${newRoot} yet (${laggard.id}); ` +
        'wait for them (meshid ca rotate status), evict agents that are gone (meshid agent evict), or pass --force',
    );
    // back up with its persisted SVID: its bundle stream delivers the new bundle, which it acknowledges
    laggard.agent = await startAgent({ ...laggard.config, joinToken: '' });
    await allAcknowledged();

    // activate right after a scheduled workload renewal: its next one is then far outside the re-issue window
    const count = pushed.length;
    await pollUntil(() => pushed.length, (n) => n > count, 'a scheduled workload SVID renewal');
    before = pushed.at(-1)!;
    activatedAt = Date.now();
    const status = await rotate.activate(admin);
    expect(status.phase).toBe('activated');
    // activation time + svid.maxTtl + 1 s for signatures in flight, in whole seconds
    const margin = MAX_SVID_TTL_SECONDS * 1000 + 1000;
    expect(status.retire_safe_at).toBeGreaterThanOrEqual((activatedAt + margin) / 1000);
    expect(status.retire_safe_at).toBeLessThanOrEqual(Math.ceil((Date.now() + margin) / 1000));
    expect(rootsOf(agent)).toEqual([oldRoot, newRoot]); // still both until retire
  });

  it('re-issues the workload SVID from the new root within the re-issue window, and the CA serves from it', async () => {
    const fresh = await pollUntil(
      () => pushed.find((p) => p.at >= activatedAt && chainsTo(p.svid.chainDer, rootDer(ca, newRoot))),
      (p) => p !== undefined,
      'a workload SVID from the new root',
    );
    const tookMs = fresh!.at - activatedAt;
    expect(tookMs).toBeLessThan(ROOT_CHANGE_REISSUE_WINDOW_MS + 1000);
    expect(beforeScheduledRenewal(fresh!.at, before.at, before.svid.notAfter)).toBe(true);
    const renewed = await pollUntil(
      () => agentSvids.find((s) => s.at >= activatedAt && chainsTo(s.svid.chainDer, rootDer(ca, newRoot))),
      (s) => s !== undefined,
      'vm-1 to re-issue its agent SVID from the new root',
    );
    // (the agent SVID renews on its own schedule too, which may fall into the window: only the bound is checked)
    expect(renewed!.at - activatedAt).toBeLessThan(ROOT_CHANGE_REISSUE_WINDOW_MS + 1000);
    console.log(
      `[root-rotation] re-issued from the new root after activation: workload SVID in ${tookMs} ms, agent SVID in ${renewed!.at - activatedAt} ms`,
    );
    await pollUntil(
      () => laggard.agent!.identity.current()!.chainDer,
      (chain) => chainsTo(chain, rootDer(ca, newRoot)),
      'vm-2 to re-issue its agent SVID from the new root',
    );
    expect(await servingChainRoot()).toBe(newRoot);
  });

  it('retire: refused while SVIDs from the old root may be valid, then the old root leaves every bundle', async () => {
    const { retire_safe_at: safeAt } = await rotate.status(admin);
    const refused = await expectStatus(rotate.retire(admin), grpc.status.FAILED_PRECONDITION, new RegExp(`^SVIDs signed under the old root ${oldRoot} may be valid until `));
    const validUntil = /valid until (\S+)/.exec(refused.details)![1]!;
    expect(Math.ceil(Date.parse(validUntil) / 1000)).toBe(safeAt);
    await until(new Date(safeAt * 1000));

    const oneRoot = nextEvent(agent.bundles, 'change', (b: { rootsDer: Buffer[] }) => b.rootsDer.length === 1);
    const status = await rotate.retire(admin);
    expect(status.phase).toBe('idle');
    expect(status.authorities.filter((a) => a.kind === 'root').map((a) => [a.id, a.state])).toEqual([
      [oldRoot, 'retired'],
      [newRoot, 'active'],
    ]);
    await oneRoot;
    expect(rootsOf(agent)).toEqual([newRoot]);
    await pollUntil(() => laggard.agent!.source.ownBundle().rootsDer.length, (n) => n === 1, 'vm-2 to drop the old root');
    // the agents keep renewing over mTLS against a CA that trusts only the new root
    const renewal = await nextEvent<[AgentSvid]>(agent.identity, 'rotated');
    expect(chainsTo(renewal[0].chainDer, rootDer(ca, newRoot))).toBe(true);
    const [svid] = await agent.source.x509Svids(WORKLOAD);
    expect(chainsTo(svid!.chainDer, rootDer(ca, newRoot))).toBe(true);
  });

  it('a CA restart in the middle of a rotation resumes it in the same state', async () => {
    const prepared = await rotate.prepare(admin);
    const next = prepared.authorities.find((a) => a.kind === 'root' && a.state === 'prepared')!.id;
    await restartCa();
    expect(await rotate.status(admin)).toMatchObject({ phase: 'prepared', authorities: prepared.authorities });
    // the agents' bundle streams reconnect to the new process and acknowledge again
    await allAcknowledged();
    const activated = await rotate.activate(admin);
    await restartCa();
    const resumed = await rotate.status(admin);
    expect(resumed).toMatchObject({ phase: 'activated', retire_safe_at: activated.retire_safe_at, authorities: activated.authorities });
    await expectStatus(rotate.retire(admin), grpc.status.FAILED_PRECONDITION, /may be valid until/);
    await until(new Date(resumed.retire_safe_at * 1000));
    expect((await rotate.retire(admin)).phase).toBe('idle');
    await pollUntil(() => rootsOf(agent), (roots) => roots.length === 1 && roots[0] === next, 'the agent to hold only the newest root');
    expect(chainsTo(agent.identity.current()!.chainDer, rootDer(ca, next))).toBe(true);
  });
});

/** The journal id of the root the CA's serving certificate chains to. */
async function servingChainRoot(): Promise<string> {
  const roots = ca.server.authorities.trustBundle().roots.map((r) => Buffer.from(r.rawData));
  const chain = await new Promise<Buffer[]>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const ders: Buffer[] = [];
      for (let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); c?.raw; c = c.issuerCertificate) {
        if (ders.some((d) => d.equals(c!.raw))) break;
        ders.push(c.raw);
      }
      socket.end();
      resolve(ders);
    });
    socket.on('error', reject);
  });
  const root = roots.find((r) => chainsTo(chain.filter((c) => !roots.some((x) => x.equals(c))), r));
  return root ? idOf(root) : 'none';
}
