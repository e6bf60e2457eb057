// CA outages against a real CA that is stopped and restarted on the same data dir and port: the agent keeps
// its agent SVID and the cached workload SVIDs, backs off, reports the time left, and renews by itself when
// the CA returns, before anything expired. An agent that starts while the CA is down attests once it is up.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshidError } from '../../core/errors.js';
import type { AgentSvid } from '../../node-agent/agent-svid-store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import type { WorkloadCaller, X509SvidMaterial } from '../../node-agent/identity-source.js';
import { CaFixture } from '../ca-server/fixture.js';
import {
  agentConfig,
  createEntry,
  createJoinToken,
  LogCapture,
  metricValue,
  nextEvent,
  startAgent,
  tempDir,
  TRUST_DOMAIN,
} from './agent-fixture.js';

let root: string;
let dataDir: string;
let port: number;
let ca: CaFixture | undefined;
const agents: NodeAgent[] = [];

const SHORT_AGENT = { agent: '8s', workload: '1h' };
const SHORT_WORKLOAD = { agent: '1h', workload: '8s' };
const caller: WorkloadCaller = { kind: 'unix', selectors: ['unix:uid:1000', 'unix:gid:1000'] };
const serial = (svid: { chainDer: Buffer[] }) => new X509Certificate(svid.chainDer[0]!).serialNumber;

/**
 * (Re)starts the CA on the shared data dir, after the first start on the same port. Each test picks short
 * TTLs only for the SVID kind it takes through an outage, so the other kind cannot expire meanwhile.
 */
async function startCa(ttls: { agent: string; workload: string }): Promise<CaFixture> {
  const grpc = port ? `127.0.0.1:${port}` : '127.0.0.1:0';
  ca = await CaFixture.start({
    kubernetes: 'disabled',
    dataDir,
    config: {
      svid: { defaultTtl: ttls.workload, maxTtl: '1h' },
      agentSvidTtl: ttls.agent,
      listen: { grpc, metrics: '127.0.0.1:0', adminSocket: path.join(root, 'admin.sock') },
    },
  });
  port = ca.server.grpcPort;
  return ca;
}

async function stopCa(): Promise<void> {
  await ca?.close();
  ca = undefined;
}

beforeAll(async () => {
  root = await tempDir();
  dataDir = path.join(root, 'ca');
  await startCa(SHORT_AGENT);
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await stopCa();
  await rm(root, { recursive: true, force: true });
});

/** A VM agent with one entry matching `caller`; returns it with the entry ID. */
async function agentWithEntry(name: string, logs = new LogCapture()): Promise<{ agent: NodeAgent; entryId: string }> {
  const admin = ca!.adminClient();
  const token = await createJoinToken(admin, `/meshid/agent/${name}`);
  const entryId = await createEntry(admin, { spiffeId: `spiffe://${TRUST_DOMAIN}/vm/${name}`, parentId: token.spiffeId, selectors: ['unix:uid:1000'] });
  admin.close();
  const agent = await startAgent(agentConfig(ca!, await tempDir(root), { joinToken: token.value }), logs);
  agents.push(agent);
  await agent.entries!.refresh();
  return { agent, entryId };
}

describe('CA outage', () => {
  it('keeps the agent SVID, backs off, reports the time left, and renews by itself when the CA returns', async () => {
    const logs = new LogCapture();
    const { agent } = await agentWithEntry('outage-agent', logs);
    const [workloadSvid] = await agent.source.x509Svids(caller);

    // Stop the CA right after a renewal, so the SVID in use has its whole lifetime left.
    const [agentSvid] = await nextEvent<[AgentSvid]>(agent.identity, 'rotated');
    await stopCa();

    const [error, retryInMs] = await nextEvent<[MeshidError, number]>(agent.identity, 'renewal-failed');
    expect(error).toMatchObject({ code: 'UNAVAILABLE', reason: 'ca_unavailable' });
    expect(retryInMs).toBeGreaterThan(0);
    expect(serial(agent.identity.current()!)).toBe(serial(agentSvid));
    expect(agent.identity.secondsLeft()).toBeGreaterThan(0);
    expect(agent.notReady()).toBeNull();
    expect(await agent.source.x509Svids(caller)).toEqual([workloadSvid]);
    expect(await metricValue(agent.metrics.rotationFailures, { kind: 'agent', reason: 'ca_unavailable' })).toBeGreaterThanOrEqual(1);
    const warning = logs.entries().find((e) => e.msg === 'agent SVID renewal failed; keeping the current SVID');
    expect(warning).toMatchObject({ code: 'UNAVAILABLE', secondsLeft: expect.any(Number), retryInSeconds: expect.any(Number) });
    // It keeps retrying (with backoff) while the CA is away.
    await nextEvent(agent.identity, 'renewal-failed');

    const recovered = nextEvent<[AgentSvid]>(agent.identity, 'rotated');
    await startCa(SHORT_AGENT);
    const [renewed] = await recovered;
    expect(Date.now()).toBeLessThan(agentSvid.notAfter.getTime());
    expect(serial(renewed)).not.toBe(serial(agentSvid));
    await agent.close();
  }, 60_000);

  it('serves the cached workload SVID through the outage and pushes a renewed one when the CA returns', async () => {
    await stopCa();
    await startCa(SHORT_WORKLOAD);
    const { agent, entryId } = await agentWithEntry('outage-workload');
    const pushes = new EventEmitter();
    const stop = agent.source.watchX509Svids(caller, (svids) => pushes.emit('svids', svids));
    const pushed = async () => (await nextEvent<[X509SvidMaterial[]]>(pushes, 'svids'))[0][0]!;
    await agent.source.x509Svids(caller);

    // Stop the CA right after a renewal reached the watcher: the cached SVID has its whole lifetime left.
    const cached = await pushed();
    await stopCa();
    const [key, error] = await nextEvent<[string, MeshidError]>(agent.svids, 'rotation-failed', (k) => k === entryId);
    expect(key).toBe(entryId);
    expect(error.code).toBe('UNAVAILABLE');
    expect(await agent.source.x509Svids(caller)).toEqual([cached]);

    const renewed = pushed();
    await startCa(SHORT_WORKLOAD);
    const fresh = await renewed;
    expect(Date.now()).toBeLessThan(cached.notAfter.getTime());
    expect(serial(fresh)).not.toBe(serial(cached));
    expect(await agent.source.x509Svids(caller)).toEqual([fresh]);
    stop();
  }, 60_000);

  it('starts while the CA is down (not ready, UNAVAILABLE) and attests once it is up', async () => {
    const admin = ca!.adminClient();
    const token = await createJoinToken(admin, '/meshid/agent/late');
    admin.close();
    const config = agentConfig(ca!, await tempDir(root), { joinToken: token.value });
    await stopCa();

    const agent = await startAgent(config);
    agents.push(agent);
    expect(agent.notReady()).toBe('no agent SVID yet (attesting to the CA)');
    await expect(agent.source.x509Svids(caller)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect((await fetch(`http://127.0.0.1:${agent.opsPort}/readyz`)).status).toBe(503);

    const attested = nextEvent<[AgentSvid]>(agent.identity, 'rotated');
    await startCa(SHORT_AGENT);
    expect((await attested)[0].spiffeId).toBe(token.spiffeId);
    expect(agent.notReady()).toBeNull();
  });
});
