// The root rotation state machine of the authority manager, with the real self-signed upstream, a real
// SQLite journal on disk and an injected clock: prepare -> activate -> retire, the refusals, how it coexists
// with the intermediate schedule, and restarts at every step.
import { fingerprint } from '../../core/x509/chain.js';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthorityManager,
  type AuthorityChange,
  type AuthorityManagerOptions,
} from '../../ca-server/authority/manager.js';
import { rotationSchedule } from '../../ca-server/authority/schedule.js';
import { authorityId } from '../../ca-server/authority/signing-authority.js';
import { SqliteDataStore } from '../../ca-server/datastore/sqlite.js';
import { TrustDomain } from '../../core/spiffeid.js';
import type { x509 } from '../../core/x509/peculiar.js';
import { rootDir } from '../../plugins/upstream/self-signed/root-files.js';
import { SelfSignedAuthority } from '../../plugins/upstream/self-signed/self-signed-authority.js';
import { UpstreamDouble } from '../authority/upstream-double.js';

const td = TrustDomain.parse('example.org');
const S = 1000;
const H = 3600 * S;
const T0 = new Date('2030-01-01T00:00:00Z').getTime();
const MAX_SVID_TTL_S = 600;

const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );

/** The root a signing CA chains to: its issuer among `roots`. */
const issuerOf = (signing: { chainDer: Buffer[] }, roots: x509.X509Certificate[]) => {
  const last = new X509Certificate(signing.chainDer.at(-1)!);
  return roots.find((r) => last.checkIssued(new X509Certificate(Buffer.from(r.rawData))));
};

describe('root rotation in the authority manager', () => {
  let dataDir: string;
  let clock: Date;
  const now = () => clock;
  const open: { manager: AuthorityManager; store: SqliteDataStore; upstream: { close(): Promise<void> } }[] = [];

  /** Starts (or restarts) store, self-signed upstream and manager on the shared data dir. */
  const start = async (over: Partial<AuthorityManagerOptions> = {}) => {
    const store = SqliteDataStore.open(dataDir);
    const upstream = new SelfSignedAuthority({ dataDir, trustDomain: td }, { now });
    await upstream.start();
    const manager = new AuthorityManager({ dataDir, trustDomain: td, store, upstream, now, maxSvidTtlSeconds: MAX_SVID_TTL_S, ...over });
    await manager.start();
    open.push({ manager, store, upstream });
    return manager;
  };
  const stop = async () => {
    for (const { manager, store, upstream } of open.splice(0)) {
      await manager.close();
      await upstream.close();
      await store.close();
    }
  };
  const changes = (manager: AuthorityManager) => {
    const seen: AuthorityChange[] = [];
    manager.onChange((c) => seen.push(c));
    return seen;
  };
  const states = (manager: AuthorityManager) =>
    manager.rootRotation().authorities.map((a) => `${a.kind}:${a.state}`);
  const at = (ms: number) => (clock = new Date(T0 + ms));

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-rr-'));
    clock = new Date(T0);
  });
  afterEach(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prepare: a new root (key 0600) and a signing CA under it are journaled and published, nothing signs yet', async () => {
    const manager = await start();
    const seen = changes(manager);
    const before = manager.active();
    const oldRootId = manager.activeRootId();
    expect(manager.rootRotation()).toMatchObject({ phase: 'idle', upstream: 'self-signed' });
    expect(states(manager)).toEqual(['root:active', 'intermediate:active']);

    at(H);
    const { rootId, intermediateId } = await manager.prepareRootRotation();
    expect(statSync(join(rootDir(dataDir), 'roots', `${rootId}-key.pem`)).mode & 0o777).toBe(0o600);
    expect(manager.active().id).toBe(before.id);
    expect(manager.activeRootId()).toBe(oldRootId);
    const roots = manager.trustBundle().roots;
    expect(roots.map(authorityId)).toEqual([oldRootId, rootId]);
    expect(roots[1]!.subject).toBe('O=meshid, CN=meshid root example.org, OU=rotated 2030-01-01T01:00:00Z');
    expect(seen).toEqual([expect.objectContaining({ activeChanged: false, bundleChanged: true })]);
    const view = manager.rootRotation();
    expect(view).toMatchObject({ phase: 'prepared', nextRoot: { id: rootId, fingerprint: fingerprint(roots[1]!) } });
    expect(view.retireSafeAt).toBeUndefined();
    expect(view.authorities).toEqual([
      expect.objectContaining({ id: oldRootId, kind: 'root', state: 'active', upstream: 'self-signed' }),
      expect.objectContaining({ id: rootId, kind: 'root', state: 'prepared', notAfter: roots[1]!.notAfter }),
      expect.objectContaining({ id: before.id, kind: 'intermediate', state: 'active', rootId: oldRootId }),
      expect.objectContaining({ id: intermediateId, kind: 'intermediate', state: 'prepared', rootId }),
    ]);

    expect(await failure(manager.prepareRootRotation())).toEqual({
      code: 'FAILED_PRECONDITION',
      message: `root ${rootId} is already prepared; activate it (meshid ca rotate activate)`,
    });
    expect(await failure(manager.retireRootRotation())).toEqual({
      code: 'FAILED_PRECONDITION',
      message: `root ${rootId} is prepared but not active yet; activate it first (meshid ca rotate activate)`,
    });
  });

  it('activate: signing switches to the new root, the old root stays published until retire is safe', async () => {
    const manager = await start();
    const oldRootId = manager.activeRootId();
    const first = manager.active();
    at(H);
    const { rootId, intermediateId } = await manager.prepareRootRotation();
    const seen = changes(manager);

    at(2 * H);
    expect(await manager.activateRootRotation({ expectRootId: rootId })).toEqual({ rootId, intermediateId });
    expect(manager.active().id).toBe(intermediateId);
    expect(manager.activeRootId()).toBe(rootId);
    expect(authorityId(issuerOf(manager.active(), manager.trustBundle().roots)!)).toBe(rootId);
    expect(seen).toEqual([expect.objectContaining({ activeChanged: true, bundleChanged: false })]);
    expect(manager.trustBundle().roots.map(authorityId)).toEqual([rootId, oldRootId]);
    const safeAt = new Date(T0 + 2 * H + MAX_SVID_TTL_S * S + 1000);
    expect(manager.rootRotation()).toMatchObject({ phase: 'activated', retireSafeAt: safeAt });
    expect(manager.rootRotation().authorities).toEqual([
      expect.objectContaining({ id: oldRootId, state: 'old' }),
      expect.objectContaining({ id: rootId, state: 'active', activatedAt: clock }),
      expect.objectContaining({ id: first.id, state: 'old', retiredAt: clock, rootId: oldRootId }),
      expect.objectContaining({ id: intermediateId, state: 'active', rootId }),
    ]);
    expect(await failure(manager.activateRootRotation())).toMatchObject({ message: expect.stringContaining('already active') });
    expect(await failure(manager.prepareRootRotation())).toEqual({
      code: 'FAILED_PRECONDITION',
      message: `the previous root rotation is not finished: retire root ${oldRootId} first (meshid ca rotate retire)`,
    });

    // retire: refused while SVIDs from the old root may be valid, then the old root leaves the bundle
    at(2 * H + MAX_SVID_TTL_S * S);
    expect(await failure(manager.retireRootRotation())).toEqual({
      code: 'FAILED_PRECONDITION',
      message:
        `SVIDs signed under the old root ${oldRootId} may be valid until ${safeAt.toISOString()} (its signing CA stopped ` +
        `signing, plus svid.maxTtl ${MAX_SVID_TTL_S}s); retire after that, or pass --force (those SVIDs then fail verification at once)`,
    });
    clock = safeAt;
    expect(await manager.retireRootRotation()).toEqual({ retired: [oldRootId] });
    expect(manager.trustBundle().roots.map(authorityId)).toEqual([rootId]);
    expect(seen.at(-1)).toMatchObject({ activeChanged: false, bundleChanged: true });
    expect(states(manager)).toEqual(['root:retired', 'root:active', 'intermediate:retired', 'intermediate:active']);
    expect(manager.rootRotation()).toMatchObject({ phase: 'idle' });
    expect(await failure(manager.retireRootRotation())).toMatchObject({ message: 'there is no old root to retire: no root rotation is in progress' });

    // and the next rotation can start
    const second = await manager.prepareRootRotation();
    expect(manager.trustBundle().roots.map(authorityId)).toEqual([rootId, second.rootId]);
  });

  it('retires early only when forced', async () => {
    const manager = await start();
    const oldRootId = manager.activeRootId();
    const { rootId } = await manager.prepareRootRotation();
    await manager.activateRootRotation();
    expect((await failure(manager.retireRootRotation())).code).toBe('FAILED_PRECONDITION');
    expect(await manager.retireRootRotation({ force: true })).toEqual({ retired: [oldRootId] });
    expect(manager.trustBundle().roots.map(authorityId)).toEqual([rootId]);
  });

  it('refuses activate without a prepared root, and for another root than the caller checked', async () => {
    const manager = await start();
    expect(await failure(manager.activateRootRotation())).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'no root rotation is prepared; start one with meshid ca rotate prepare',
    });
    await manager.prepareRootRotation();
    expect((await failure(manager.activateRootRotation({ expectRootId: 'abc' }))).message).toContain('not abc; check again');
  });

  it('keeps the intermediate schedule running under the signing root while a rotation is prepared', async () => {
    const manager = await start();
    const first = manager.active();
    const oldRootId = manager.activeRootId();
    const { rootId, intermediateId } = await manager.prepareRootRotation();
    const { prepareAt, activateAt } = rotationSchedule({ notBefore: first.certificate.notBefore, notAfter: first.notAfter });

    clock = prepareAt;
    const scheduled = await manager.rotateIntermediateIfDue();
    expect(scheduled.prepared).toBeDefined();
    clock = activateAt;
    expect(await manager.rotateIntermediateIfDue()).toEqual({ activated: scheduled.prepared, retired: first.id });
    expect(manager.activeRootId()).toBe(oldRootId); // the root rotation's signing CA was left alone
    expect(manager.rootRotation()).toMatchObject({ phase: 'prepared', nextRoot: { id: rootId } });

    // the schedule prepares the next one under the old root; activating the root rotation retires it unused
    const next = rotationSchedule({ notBefore: manager.active().certificate.notBefore, notAfter: manager.active().notAfter });
    clock = next.prepareAt;
    const unused = (await manager.rotateIntermediateIfDue()).prepared!;
    await manager.activateRootRotation();
    expect(manager.active().id).toBe(intermediateId);
    const byId = new Map(manager.rootRotation().authorities.map((a) => [a.id, a]));
    expect(byId.get(unused)).toMatchObject({ state: 'old', rootId: oldRootId });
    expect(byId.get(unused)!.activatedAt).toBeUndefined();

    // after activation the schedule rotates under the new root
    const after = rotationSchedule({ notBefore: manager.active().certificate.notBefore, notAfter: manager.active().notAfter });
    clock = after.activateAt;
    await manager.rotateIntermediateIfDue();
    expect(manager.active().id).not.toBe(intermediateId);
    expect(manager.activeRootId()).toBe(rootId);
  });

  it('never waits past the old signing CA\'s own expiry: no SVID outlives its issuer', async () => {
    const manager = await start({ intermediateTtlSeconds: 3600 });
    const first = manager.active();
    await manager.prepareRootRotation();
    at(55 * 60 * S); // 5 minutes before the old signing CA expires, less than svid.maxTtl
    await manager.activateRootRotation();
    expect(manager.rootRotation().retireSafeAt).toEqual(first.notAfter);
    clock = first.notAfter;
    expect((await manager.retireRootRotation()).retired).toHaveLength(1);
  });

  it('re-mints the prepared signing CA at activation when it expired meanwhile', async () => {
    const manager = await start({ intermediateTtlSeconds: 3600 });
    const { rootId, intermediateId } = await manager.prepareRootRotation();
    at(2 * H); // both the active signing CA and the prepared one expired
    const activated = await manager.activateRootRotation();
    expect(activated.rootId).toBe(rootId);
    expect(activated.intermediateId).not.toBe(intermediateId);
    expect(manager.active().notAfter).toEqual(new Date(clock.getTime() + H));
    expect(manager.activeRootId()).toBe(rootId);
  });

  it('resumes where it stopped after a restart at every step', async () => {
    let manager = await start();
    const oldRootId = manager.activeRootId();
    const { rootId, intermediateId } = await manager.prepareRootRotation();
    const preparedBundle = manager.trustBundle().roots.map(fingerprint);
    await stop();

    manager = await start();
    expect(manager.rootRotation()).toMatchObject({ phase: 'prepared', nextRoot: { id: rootId } });
    expect(manager.trustBundle().roots.map(fingerprint)).toEqual(preparedBundle);
    expect(manager.activeRootId()).toBe(oldRootId);
    at(H);
    await manager.activateRootRotation();
    await stop();

    manager = await start();
    expect(manager.rootRotation()).toMatchObject({ phase: 'activated', retireSafeAt: new Date(T0 + H + MAX_SVID_TTL_S * S + 1000) });
    expect(manager.active().id).toBe(intermediateId);
    expect(manager.activeRootId()).toBe(rootId);
    // a restarted upstream signs the schedule's next signing CA with the rotated root, read back from disk
    const { prepareAt } = rotationSchedule({ notBefore: manager.active().certificate.notBefore, notAfter: manager.active().notAfter });
    clock = prepareAt;
    const { prepared } = await manager.rotateIntermediateIfDue();
    expect(manager.rootRotation().authorities.find((a) => a.id === prepared)).toMatchObject({ state: 'prepared', rootId });
    await manager.retireRootRotation();
    await stop();

    manager = await start();
    expect(manager.rootRotation().phase).toBe('idle');
    expect(manager.trustBundle().roots.map(authorityId)).toEqual([rootId]);
  });

  it('refuses to rotate a root an upstream other than self-signed manages', async () => {
    const store = SqliteDataStore.open(':memory:');
    const manager = new AuthorityManager({ dataDir, trustDomain: td, store, upstream: new UpstreamDouble(now), now });
    await manager.start();
    try {
      expect(await failure(manager.prepareRootRotation())).toEqual({
        code: 'FAILED_PRECONDITION',
        message: 'the root is managed by the "double" upstream authority; rotate it there (meshid follows via onRootsChanged/onUpstreamChanged)',
      });
      expect(manager.rootRotation()).toMatchObject({ phase: 'idle', upstream: 'double' });
      expect(manager.rootRotation().authorities.map((a) => `${a.kind}:${a.state}`)).toEqual(['root:active', 'intermediate:active']);
    } finally {
      await manager.close();
      await store.close();
    }
  });
});
