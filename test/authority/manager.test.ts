import { fingerprint } from '../../core/x509/chain.js';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthorityJournal } from '../../ca-server/authority/journal.js';
import { KeyStore } from '../../ca-server/authority/key-store.js';
import {
  AuthorityManager,
  DEFAULT_INTERMEDIATE_TTL_SECONDS,
  type AuthorityChange,
  type AuthorityManagerOptions,
} from '../../ca-server/authority/manager.js';
import { prepareAuthority } from '../../ca-server/authority/prepare.js';
import { rotationSchedule } from '../../ca-server/authority/schedule.js';
import { SqliteDataStore } from '../../ca-server/datastore/sqlite.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import { SelfSignedAuthority } from '../../plugins/upstream/self-signed/self-signed-authority.js';
import type { UpstreamAuthority } from '../../plugins/api/upstream-authority.js';
import { UpstreamDouble } from './upstream-double.js';

const td = TrustDomain.parse('example.org');
const H = 3600_000;
const D = 24 * H;
const T0 = new Date('2030-01-01T00:00:00Z').getTime();
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );

describe('AuthorityManager', () => {
  let dataDir: string;
  let clock: Date;
  const now = () => clock;
  const managers: AuthorityManager[] = [];
  const stores: SqliteDataStore[] = [];

  const open = (store: SqliteDataStore, upstream: UpstreamAuthority, over: Partial<AuthorityManagerOptions> = {}) => {
    const manager = new AuthorityManager({ dataDir, trustDomain: td, store, upstream, now, ...over });
    managers.push(manager);
    return manager;
  };
  const memoryStore = () => {
    const store = SqliteDataStore.open(':memory:');
    stores.push(store);
    return store;
  };
  const changes = (manager: AuthorityManager) => {
    const seen: AuthorityChange[] = [];
    manager.onChange((c) => seen.push(c));
    return seen;
  };
  const rootKeys = (manager: AuthorityManager) => manager.trustBundle().roots.map(fingerprint);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-am-'));
    clock = new Date(T0);
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close();
    for (const s of stores.splice(0)) await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('with the self-signed upstream and an on-disk store', () => {
    const selfSigned = () => {
      const upstream = new SelfSignedAuthority({ dataDir, trustDomain: td }, { now });
      return upstream;
    };
    const startAll = async () => {
      const store = SqliteDataStore.open(dataDir);
      stores.push(store);
      const upstream = selfSigned();
      await upstream.start();
      const manager = open(store, upstream);
      await manager.start();
      return { store, manager };
    };

    it('creates the first signing CA: 0600 key under keys/, journal prepared then active', async () => {
      const { store, manager } = await startAll();
      const active = manager.active();
      expect(active.keyAlgorithm).toBe('ec-p256');
      expect(active.notAfter).toEqual(new Date(T0 + DEFAULT_INTERMEDIATE_TTL_SECONDS * 1000));
      expect(active.chainDer).toEqual([active.certificateDer]);
      expect(active.certificate.subject).toBe('O=meshid, CN=meshid intermediate example.org');
      expect(statSync(join(dataDir, 'keys')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dataDir, 'keys', `${active.id}.pem`)).mode & 0o777).toBe(0o600);
      const [record] = await store.listAuthorities();
      expect(record).toMatchObject({
        id: active.id,
        kind: 'intermediate',
        state: 'active',
        upstream: 'self-signed',
        keyPath: join('keys', `${active.id}.pem`),
        createdAt: clock,
        activatedAt: clock,
      });
      const roots = manager.trustBundle().roots;
      expect(roots).toHaveLength(1);
      expect(manager.expiries()).toEqual({ root: roots[0]!.notAfter, intermediate: active.notAfter });
      expect(manager.expiries().root.getTime() - T0).toBe(10 * 365 * D);
    });

    it('reuses the root, the signing CA and its key after a restart', async () => {
      const first = await startAll();
      const before = first.manager.active();
      const rootBefore = rootKeys(first.manager);
      await first.manager.close();
      await first.store.close();

      clock = new Date(T0 + H);
      const second = await startAll();
      const after = second.manager.active();
      expect(after.id).toBe(before.id);
      expect(after.certificateDer).toEqual(before.certificateDer);
      expect(privateKeyToPem(after.privateKey)).toBe(privateKeyToPem(before.privateKey));
      expect(rootKeys(second.manager)).toEqual(rootBefore);
      expect(readdirSync(join(dataDir, 'keys'))).toEqual([`${before.id}.pem`]);
      expect(statSync(join(dataDir, 'keys', `${before.id}.pem`)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dataDir, 'upstream', 'self-signed', 'root-key.pem')).mode & 0o777).toBe(0o600);
      expect(await second.store.listAuthorities()).toHaveLength(1);
    });

    it('refuses to start when the signing key file is readable by others or replaced', async () => {
      const first = await startAll();
      const keyFile = join(dataDir, 'keys', `${first.manager.active().id}.pem`);
      await first.manager.close();
      await first.store.close();

      chmodSync(keyFile, 0o644);
      expect((await failure(startAll())).message).toContain(`run "chmod 600 ${keyFile}"`);
      chmodSync(keyFile, 0o600);
      writeFileSync(keyFile, privateKeyToPem(generateKeyPair().privateKey));
      expect(await failure(startAll())).toEqual({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining('does not match its certificate'),
      });
    });

    it('rotates under the same root without changing the bundle', async () => {
      const { store, manager } = await startAll();
      const seen = changes(manager);
      const first = manager.active().id;
      clock = new Date(T0 + 3.5 * D);
      const prepared = await manager.rotateIntermediateIfDue();
      expect(prepared.prepared).toBeDefined();
      expect(seen).toEqual([]);
      clock = new Date(T0 + 7 * D - 28 * H);
      expect(await manager.rotateIntermediateIfDue()).toEqual({ activated: prepared.prepared, retired: first });
      expect(manager.active().id).toBe(prepared.prepared);
      expect(seen).toEqual([expect.objectContaining({ activeChanged: true, bundleChanged: false })]);
      expect(seen[0]!.active.id).toBe(prepared.prepared);
      expect(manager.trustBundle().roots).toHaveLength(1);
      expect((await store.listAuthorities()).map((a) => [a.id, a.state])).toEqual([
        [first, 'retired'],
        [prepared.prepared, 'active'],
      ]);
      expect(readdirSync(join(dataDir, 'keys')).sort()).toEqual([`${first}.pem`, `${prepared.prepared}.pem`].sort());
    });
  });

  describe('rotation schedule (injected clock, upstream rotating its root each mint)', () => {
    let upstream: UpstreamDouble;
    let manager: AuthorityManager;
    let seen: AuthorityChange[];
    const ttl = 6 * 3600;
    // certificates are backdated 10 s, so the points fall a few seconds before 3 h and 5 h
    const points = (a: { certificate: { notBefore: Date }; notAfter: Date }) =>
      rotationSchedule({ notBefore: a.certificate.notBefore, notAfter: a.notAfter });

    beforeEach(async () => {
      upstream = new UpstreamDouble(now, true);
      manager = open(memoryStore(), upstream, { intermediateTtlSeconds: ttl });
      await manager.start();
      seen = changes(manager);
    });

    it('prepares at half-life, publishing the new root before it signs anything', async () => {
      const first = manager.active();
      const { prepareAt } = points(first);
      expect(prepareAt.getTime()).toBe(T0 + 3 * H - 5000);
      clock = new Date(prepareAt.getTime() - 1);
      expect(await manager.rotateIntermediateIfDue()).toEqual({});
      clock = prepareAt;
      const { prepared } = await manager.rotateIntermediateIfDue();
      expect(prepared).toBeDefined();
      expect(manager.active().id).toBe(first.id);
      expect(manager.trustBundle().roots).toHaveLength(2);
      expect(seen).toEqual([expect.objectContaining({ activeChanged: false, bundleChanged: true })]);
      expect(seen[0]!.bundle.roots).toHaveLength(2);
      expect(await manager.rotateIntermediateIfDue()).toEqual({});
      expect(upstream.mints).toBe(2);
    });

    it('activates at five sixths and keeps the retired root until the old CA expires', async () => {
      const first = manager.active();
      const { prepareAt, activateAt } = points(first);
      clock = prepareAt;
      const { prepared } = await manager.rotateIntermediateIfDue();
      clock = new Date(activateAt.getTime() - 1);
      expect(await manager.rotateIntermediateIfDue()).toEqual({});
      clock = activateAt;
      expect(await manager.rotateIntermediateIfDue()).toEqual({ activated: prepared, retired: first.id });
      expect(manager.active().id).toBe(prepared);
      expect(seen.at(-1)).toMatchObject({ activeChanged: true, bundleChanged: false });
      expect(manager.trustBundle().roots).toHaveLength(2);
      expect(manager.expiries().intermediate).toEqual(manager.active().notAfter);

      clock = new Date(first.notAfter.getTime() - 1);
      expect(manager.trustBundle().roots).toHaveLength(2);
      clock = first.notAfter;
      expect(manager.trustBundle().roots).toHaveLength(1);
      await manager.rotateIntermediateIfDue();
      expect(seen.at(-1)).toMatchObject({ activeChanged: false, bundleChanged: true });
      expect(seen.at(-1)!.bundle.roots.map(fingerprint)).toEqual(rootKeys(manager));
    });

    it('replaces an authority that expired while the server was down in one step', async () => {
      clock = new Date(T0 + 2 * D);
      const result = await manager.rotateIntermediateIfDue();
      expect(result.prepared).toBeDefined();
      expect(result.activated).toBe(result.prepared);
      expect(manager.active().notAfter.getTime()).toBe(clock.getTime() + ttl * 1000);
    });

    it('keeps signing with the current authority when the upstream fails, and cleans up', async () => {
      const first = manager.active().id;
      upstream.failWith = new Error('upstream down');
      clock = new Date(T0 + 3 * H);
      await expect(manager.rotateIntermediateIfDue()).rejects.toThrow('upstream down');
      expect(manager.active().id).toBe(first);
      expect(readdirSync(join(dataDir, 'keys'))).toEqual([`${first}.pem`]);
      upstream.failWith = undefined;
      expect((await manager.rotateIntermediateIfDue()).prepared).toBeDefined();
    });

    it('refuses an upstream certificate for another key', async () => {
      upstream.signWrongKey = true;
      clock = new Date(T0 + 3 * H);
      expect(await failure(manager.rotateIntermediateIfDue())).toEqual({
        code: 'FAILED_PRECONDITION',
        message: 'upstream authority "double" returned a bad signing CA: the signing certificate does not carry the signing key',
      });
      expect(readdirSync(join(dataDir, 'keys'))).toHaveLength(1);
    });

    it('runs the schedule from its own timer', async () => {
      const timed = open(memoryStore(), new UpstreamDouble(now, true), { intermediateTtlSeconds: ttl, checkIntervalMs: 5 });
      await timed.start();
      const prepared = new Promise<AuthorityChange>((resolve) => timed.onChange(resolve));
      clock = new Date(T0 + 3 * H);
      expect((await prepared).bundle.roots).toHaveLength(2);
    });

    it('sends failures of timer-driven rotation and of listeners to onError', async () => {
      const failing = new UpstreamDouble(now, true);
      const waiting: ((e: Error) => void)[] = [];
      const nextError = () => new Promise<Error>((r) => waiting.push(r));
      const onError = (e: unknown) => waiting.splice(0).forEach((w) => w(e as Error));
      const timed = open(memoryStore(), failing, { intermediateTtlSeconds: ttl, checkIntervalMs: 5, onError });
      await timed.start();
      timed.onChange(() => {
        throw new Error('listener broke');
      });
      const calledOthers = new Promise<void>((r) => timed.onChange(() => r()));

      failing.failWith = new Error('upstream down');
      clock = new Date(T0 + 3 * H);
      expect((await nextError()).message).toBe('upstream down');
      failing.failWith = undefined;
      expect((await nextError()).message).toBe('listener broke');
      await calledOthers;
    });

    it('waits for a rotation in progress when closing', async () => {
      let release!: () => void;
      upstream.gate = new Promise<void>((r) => (release = r));
      clock = new Date(T0 + 3 * H);
      const order: string[] = [];
      const rotation = manager.rotateIntermediateIfDue().then(() => order.push('rotated'));
      const closed = manager.close().then(() => order.push('closed'));
      release();
      await Promise.all([rotation, closed]);
      expect(order).toEqual(['rotated', 'closed']);
    });
  });

  it('activates an authority left prepared by an interrupted first start', async () => {
    const store = memoryStore();
    const upstream = new UpstreamDouble(now);
    const prepared = await prepareAuthority(
      {
        upstream,
        journal: new AuthorityJournal(store),
        keyStore: new KeyStore(dataDir),
        trustDomain: td,
        keyAlgorithm: 'ec-p384',
        ttlSeconds: 3600,
        subject: 'CN=x',
      },
      clock,
    );
    const manager = open(store, upstream);
    await manager.start();
    expect(manager.active().id).toBe(prepared.id);
    expect(manager.active().keyAlgorithm).toBe('ec-p384');
    expect(upstream.mints).toBe(1);
  });

  it('uses the configured key algorithm and TTL, and validates options', async () => {
    const manager = open(memoryStore(), new UpstreamDouble(now), { keyAlgorithm: 'rsa-2048', intermediateTtlSeconds: 2 * D / 1000 });
    await manager.start();
    expect(manager.active().keyAlgorithm).toBe('rsa-2048');
    expect(manager.active().notAfter.getTime()).toBe(T0 + 2 * D);
    expect(() => open(memoryStore(), new UpstreamDouble(now), { intermediateTtlSeconds: 30 })).toThrow(
      'intermediateTtlSeconds must be a whole number of seconds >= 60, got 30',
    );
  });

  it('answers FAILED_PRECONDITION before start', () => {
    const manager = open(memoryStore(), new UpstreamDouble(now));
    expect(() => manager.active()).toThrow('authority manager has not been started');
    expect(() => manager.trustBundle()).toThrow('has not been started');
  });
});
