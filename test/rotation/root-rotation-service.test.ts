// The admin side of root rotation: activation waits for every active agent's acknowledgement of a bundle
// with the new root (evicted and expired agents do not count), status counts acknowledgements of the current
// bundle, and --force overrides.
import { fingerprint } from '../../core/x509/chain.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleAcks } from '../../ca-server/authority/bundle-acks.js';
import { AuthorityManager } from '../../ca-server/authority/manager.js';
import { RootRotation } from '../../ca-server/authority/root-rotation.js';
import type { AgentRecord } from '../../ca-server/datastore/datastore.js';
import { SqliteDataStore } from '../../ca-server/datastore/sqlite.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { SelfSignedAuthority } from '../../plugins/upstream/self-signed/self-signed-authority.js';

const td = TrustDomain.parse('example.org');
const T0 = new Date('2030-01-01T00:00:00Z').getTime();
const agentId = (name: string) => `spiffe://example.org/meshid/agent/${name}`;

describe('RootRotation (admin API behaviour)', () => {
  let dataDir: string;
  let store: SqliteDataStore;
  let upstream: SelfSignedAuthority;
  let manager: AuthorityManager;
  let acks: BundleAcks;
  let rotation: RootRotation;
  let sequence: number;
  const now = () => new Date(T0);

  /** What the server does on every bundle change. */
  const publish = () => acks.publish(++sequence, manager.trustBundle().roots.map(fingerprint));
  const agent = (name: string, over: Partial<AgentRecord> = {}): AgentRecord => ({
    spiffeId: agentId(name),
    attestationType: 'join_token',
    serialNumber: '01',
    expiresAt: new Date(T0 + 3600_000),
    attestedAt: new Date(T0),
    lastSeenAt: new Date(T0),
    selectors: [],
    ...over,
  });

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-rrs-'));
    store = SqliteDataStore.open(':memory:');
    upstream = new SelfSignedAuthority({ dataDir, trustDomain: td }, { now });
    await upstream.start();
    manager = new AuthorityManager({ dataDir, trustDomain: td, store, upstream, now });
    await manager.start();
    acks = new BundleAcks();
    sequence = 100;
    publish();
    rotation = new RootRotation({ authorities: manager, acks, store, now });
    await store.upsertAgent(agent('a'));
    await store.upsertAgent(agent('b'));
    await store.upsertAgent(agent('gone', { expiresAt: new Date(T0 - 1) }));
  });
  afterEach(async () => {
    await manager.close();
    await upstream.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts the active agents that acknowledged the current bundle', async () => {
    acks.acknowledge(agentId('a'), 101);
    expect(await rotation.status()).toMatchObject({
      phase: 'idle',
      upstream: 'self-signed',
      bundleSequence: 101,
      agentsActive: 2,
      agentsAcknowledged: 1,
      agentsPending: [agentId('b')],
    });
    expect(await rotation.staleAgents()).toBe(1);
  });

  it('activates only once every active agent acknowledged a bundle with the new root', async () => {
    acks.acknowledge(agentId('a'), 101);
    acks.acknowledge(agentId('b'), 101);
    const prepared = await rotation.prepare();
    publish(); // 102: both roots
    expect(prepared).toMatchObject({ phase: 'prepared' });
    const nextRoot = manager.rootRotation().nextRoot!;
    acks.acknowledge(agentId('a'), 102);

    await expect(rotation.activate()).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message:
        `1 of 2 active agents have not acknowledged a trust bundle with the new root ${nextRoot.id} yet (${agentId('b')}); ` +
        'wait for them (meshid ca rotate status), evict agents that are gone (meshid agent evict), or pass --force',
    });
    expect(manager.rootRotation().phase).toBe('prepared');
    expect(await rotation.staleAgents()).toBe(1);

    acks.acknowledge(agentId('b'), 102);
    const activated = await rotation.activate();
    expect(activated).toMatchObject({ phase: 'activated', agentsAcknowledged: 2, agentsActive: 2 });
    expect(manager.activeRootId()).toBe(nextRoot.id);
  });

  it('activates with force while agents lag, and passes on the manager\'s refusals', async () => {
    await expect(rotation.activate()).rejects.toMatchObject({ message: 'no root rotation is prepared; start one with meshid ca rotate prepare' });
    await rotation.prepare();
    publish();
    expect((await rotation.activate({ force: true })).phase).toBe('activated');
    await expect(rotation.retire()).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('may be valid until') });
    expect((await rotation.retire({ force: true })).phase).toBe('idle');
  });
});
