// VM mode against a real CA with 5-second SVIDs: agent and workload SVIDs renew before they expire, watchers
// get the new ones, callers get the identities of the entries their kernel-vouched selectors satisfy, the
// cache shares first requests and stays bounded, and JWT-SVIDs come from the CA.
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import { privateKeyFromPem } from '../../core/x509/keys.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import type { WorkloadCaller, X509SvidMaterial } from '../../node-agent/identity-source.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import { CaFixture, rpc } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, metricValue, nextEvent, startAgent, tempDir, TRUST_DOMAIN } from './agent-fixture.js';

const SVID_TTL = '5s';
let ca: CaFixture;
let admin: AdminServiceClient;
let root: string;
let agent: NodeAgent;
let agentId: string;
const others: NodeAgent[] = [];

const unix = (...selectors: string[]): WorkloadCaller => ({ kind: 'unix', selectors });
const serial = (svid: { chainDer: Buffer[] }) => new X509Certificate(svid.chainDer[0]!).serialNumber;
const id = (p: string) => `spiffe://${TRUST_DOMAIN}${p}`;

function verify(svid: X509SvidMaterial, spiffeId: string): string[] {
  return checkX509SvidProfile(svid.chainDer, {
    expectedSpiffeId: spiffeId,
    trustDomain: TrustDomain.parse(TRUST_DOMAIN),
    privateKey: privateKeyFromPem(svid.privateKeyPem),
    roots: agent.source.ownBundle().rootsDer,
    now: new Date(),
  });
}

/** A second agent on the same CA (own join token and data dir), with raw config overrides. */
async function otherAgent(name: string, over: Record<string, unknown>): Promise<{ agent: NodeAgent; id: string }> {
  const token = await createJoinToken(admin, `/meshid/agent/${name}`);
  const started = await startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value, ...over }));
  others.push(started);
  return { agent: started, id: token.spiffeId };
}

beforeAll(async () => {
  root = await tempDir();
  ca = await CaFixture.start({ kubernetes: 'disabled', config: { svid: { defaultTtl: SVID_TTL, maxTtl: '1h' }, agentSvidTtl: SVID_TTL } });
  admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/vm-1');
  agentId = token.spiffeId;
  agent = await startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value }));
});

afterAll(async () => {
  for (const a of [agent, ...others]) await a?.close();
  admin?.close();
  await ca?.close();
  await rm(root, { recursive: true, force: true });
});

describe('rotation', () => {
  it('renews the agent SVID over mTLS before it expires and persists the new one', async () => {
    const before = agent.identity.current()!;
    const [renewed] = await nextEvent<[typeof before]>(agent.identity, 'rotated');
    expect(Date.now()).toBeLessThan(before.notAfter.getTime());
    expect(serial(renewed)).not.toBe(serial(before));
    expect(renewed.spiffeId).toBe(agentId);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(before.notAfter.getTime());
    expect(await readFile(path.join(agent.config.dataDir, 'svid.pem'), 'utf8')).toBe(renewed.chainPem);
    expect(await metricValue(agent.metrics.rotations, { kind: 'agent' })).toBeGreaterThanOrEqual(1);
    expect(agent.identity.secondsLeft()).toBeGreaterThan(0);
  });

  it('pushes a renewed workload SVID to watchers before the cached one expires', async () => {
    const spiffeId = id('/vm/rotating');
    await createEntry(admin, { spiffeId, parentId: agentId, selectors: ['unix:uid:1001'] });
    await agent.entries!.refresh();
    const caller = unix('unix:uid:1001', 'unix:gid:1001');
    const [first] = await agent.source.x509Svids(caller);
    expect(verify(first!, spiffeId)).toEqual([]);

    const pushed = new Promise<X509SvidMaterial[]>((resolve) => {
      const stop = agent.source.watchX509Svids(caller, (svids) => {
        stop();
        resolve(svids);
      });
    });
    const [next] = await pushed;
    expect(Date.now()).toBeLessThan(first!.notAfter.getTime());
    expect(serial(next!)).not.toBe(serial(first!));
    expect(next!.privateKeyPem).not.toBe(first!.privateKeyPem);
    expect(verify(next!, spiffeId)).toEqual([]);
    expect(await agent.source.x509Svids(caller)).toEqual([next]);
    expect(await metricValue(agent.metrics.rotations, { kind: 'workload' })).toBeGreaterThanOrEqual(1);
  });

  it('shares one CA call among concurrent first requests for an identity', async () => {
    const entryId = await createEntry(admin, { spiffeId: id('/vm/popular'), parentId: agentId, selectors: ['unix:uid:1002'] });
    await agent.entries!.refresh();
    const minted: string[] = [];
    const count = (key: string) => minted.push(key);
    agent.svids.on('issued', count).on('rotated', count);
    const results = await Promise.all(Array.from({ length: 25 }, () => agent.source.x509Svids(unix('unix:uid:1002'))));
    agent.svids.off('issued', count).off('rotated', count);
    expect(minted.filter((key) => key === entryId)).toHaveLength(1);
    expect(new Set(results.map(([svid]) => serial(svid!))).size).toBe(1);
  });
});

describe('entry matching by kernel-vouched unix selectors', () => {
  let web: string;
  let admin2: string;

  beforeAll(async () => {
    web = await createEntry(admin, { spiffeId: id('/vm/web'), parentId: agentId, selectors: ['unix:uid:2000'] });
    admin2 = await createEntry(admin, { spiffeId: id('/vm/web-admin'), parentId: agentId, selectors: ['unix:gid:50', 'unix:uid:2000'] });
    await createEntry(admin, { spiffeId: id('/vm/k8s-only'), parentId: agentId, selectors: ['k8s:ns:default'] });
    await createEntry(admin, { spiffeId: id('/vm/other-agent'), parentId: id('/meshid/agent/elsewhere'), selectors: ['unix:uid:2000'] });
    await agent.entries!.refresh();
  });

  it('gives a caller every entry whose selectors it all has, the first created as default', async () => {
    const svids = await agent.source.x509Svids(unix('unix:uid:2000', 'unix:gid:50'));
    expect(svids.map((s) => s.spiffeId)).toEqual([id('/vm/web'), id('/vm/web-admin')]);
    expect(agent.entries!.match(['unix:uid:2000', 'unix:gid:50']).map((e) => e.id)).toEqual([web, admin2]);
  });

  it('leaves out entries with a selector the caller lacks', async () => {
    const svids = await agent.source.x509Svids(unix('unix:uid:2000', 'unix:gid:2000'));
    expect(svids.map((s) => s.spiffeId)).toEqual([id('/vm/web')]);
  });

  it('refuses a caller no entry matches with PERMISSION_DENIED naming its selectors', async () => {
    await expect(agent.source.x509Svids(unix('unix:uid:3000', 'unix:gid:3000'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: 'no registration entry parented to this agent matches the caller (unix:uid:3000, unix:gid:3000)',
    });
  });

  it('never matches entries with selectors a VM agent cannot vouch for, nor token callers', async () => {
    await expect(agent.source.x509Svids(unix('k8s:ns:default'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(agent.source.x509Svids({ kind: 'k8s-token', token: 'x' })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('VM mode'),
    });
  });

  it('lists the distinct unix selector sets for per-identity sockets', () => {
    const sets = agent.entries!.selectorSets();
    expect(sets).toContainEqual(['unix:uid:2000']);
    expect(sets).toContainEqual(['unix:gid:50', 'unix:uid:2000']);
    expect(sets.flat()).not.toContain('k8s:ns:default');
    expect(new Set(sets.map((s) => s.join())).size).toBe(sets.length);
  });

  it('tells a watcher when a new entry gives its caller another identity', async () => {
    const caller = unix('unix:uid:2100');
    await createEntry(admin, { spiffeId: id('/vm/late-1'), parentId: agentId, selectors: ['unix:uid:2100'] });
    await agent.entries!.refresh();
    expect((await agent.source.x509Svids(caller)).map((s) => s.spiffeId)).toEqual([id('/vm/late-1')]);
    const pushed = new Promise<string[]>((resolve) => {
      const stop = agent.source.watchX509Svids(caller, (svids) => {
        if (svids.length < 2) return;
        stop();
        resolve(svids.map((s) => s.spiffeId));
      });
    });
    await createEntry(admin, { spiffeId: id('/vm/late-2'), parentId: agentId, selectors: ['unix:uid:2100'] });
    await agent.entries!.refresh();
    expect(await pushed).toEqual([id('/vm/late-1'), id('/vm/late-2')]);
  });
});

describe('bounded cache', () => {
  it('evicts the least recently used identity beyond cache.maxIdentities, never a watched one', async () => {
    const { agent: small, id: parentId } = await otherAgent('vm-small', { cache: { maxIdentities: 2 } });
    const ids: string[] = [];
    for (const uid of [4001, 4002, 4003, 4004]) {
      ids.push(await createEntry(admin, { spiffeId: id(`/vm/lru-${uid}`), parentId, selectors: [`unix:uid:${uid}`] }));
    }
    await small.entries!.refresh();
    const watched = small.source.watchX509Svids(unix('unix:uid:4001'), () => undefined);
    await small.source.x509Svids(unix('unix:uid:4001'));
    await small.source.x509Svids(unix('unix:uid:4002'));
    const evicted = nextEvent<[string]>(small.svids, 'evicted');
    await small.source.x509Svids(unix('unix:uid:4003'));
    expect((await evicted)[0]).toBe(ids[1]);
    expect(small.svids.size).toBe(2);
    expect(small.svids.peek(ids[0]!)).toBeDefined();
    watched();
    const next = nextEvent<[string]>(small.svids, 'evicted');
    await small.source.x509Svids(unix('unix:uid:4004'));
    expect((await next)[0]).toBe(ids[0]);
  });

  it('drops identities nobody asked for within cache.idleTimeout, and stops renewing them', async () => {
    const { agent: idle, id: parentId } = await otherAgent('vm-idle', { cache: { idleTimeout: '1500ms' } });
    const entryId = await createEntry(admin, { spiffeId: id('/vm/idle'), parentId, selectors: ['unix:uid:4100'] });
    await idle.entries!.refresh();
    const renewed: string[] = [];
    idle.svids.on('rotated', (key) => renewed.push(key));
    const asked = Date.now();
    await idle.source.x509Svids(unix('unix:uid:4100'));
    const [key] = await nextEvent<[string]>(idle.svids, 'evicted');
    expect(key).toBe(entryId);
    expect(Date.now() - asked).toBeGreaterThanOrEqual(1500);
    expect(idle.svids.size).toBe(0);
    expect(renewed).not.toContain(entryId);
  });
});

describe('JWT-SVIDs', () => {
  it('returns a CA-signed JWT-SVID for each identity, verifiable with the bundle\'s JWT keys', async () => {
    await createEntry(admin, { spiffeId: id('/vm/jwt'), parentId: agentId, selectors: ['unix:uid:5000'] });
    await agent.entries!.refresh();
    const [svid] = await agent.source.jwtSvids(unix('unix:uid:5000'), ['payments']);
    expect(svid!.spiffeId).toBe(id('/vm/jwt'));
    // jose only considers keys without "use" or with "sig"; the SPIFFE bundle marks JWT keys "jwt-svid".
    const bundle = JSON.parse(agent.source.ownBundle().jwks) as { keys: { use: string }[] };
    const keys = createLocalJWKSet({ keys: bundle.keys.filter((k) => k.use === 'jwt-svid').map(({ use: _use, ...k }) => k) });
    const { payload, protectedHeader } = await jwtVerify(svid!.token, keys, { audience: 'payments' });
    expect(payload.sub).toBe(id('/vm/jwt'));
    expect(protectedHeader.kid).toBeTruthy();
    expect(svid!.expiresAt.getTime()).toBe(payload.exp! * 1000);
    // Reused while fresh: a second request for the same audience costs no CA call.
    const [again] = await agent.source.jwtSvids(unix('unix:uid:5000'), ['payments']);
    expect(again!.token).toBe(svid!.token);
  });

  it('refuses a SPIFFE ID the caller is not entitled to', async () => {
    await expect(agent.source.jwtSvids(unix('unix:uid:5000'), ['payments'], id('/vm/web'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });
});

describe('entry deletion', () => {
  it('within one entry poll, a deleted entry\'s SVID is dropped, watchers are told, and the caller is refused', async () => {
    const spiffeId = id('/vm/deleted');
    const entryId = await createEntry(admin, { spiffeId, parentId: agentId, selectors: ['unix:uid:6000'] });
    await agent.entries!.refresh();
    const caller = unix('unix:uid:6000');
    const [svid] = await agent.source.x509Svids(caller);
    expect(svid!.spiffeId).toBe(spiffeId);
    const updates: X509SvidMaterial[][] = [];
    const told = new Promise<void>((resolve) => {
      const stop = agent.source.watchX509Svids(caller, (svids) => {
        updates.push(svids);
        if (svids.length === 0) {
          stop();
          resolve();
        }
      });
    });

    await rpc(admin, admin.DeleteEntry, { id: entryId });
    await agent.entries!.refresh(); // one poll
    await told;
    expect(updates.at(-1)).toEqual([]);
    expect(agent.svids.peek(entryId)).toBeUndefined();
    await expect(agent.source.x509Svids(caller)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', reason: 'no_matching_entry' });
  });
});
