import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JwtKeyManager, type JwtAlgorithm, type JwtKeyManagerOptions } from '../../ca-server/authority/jwt-keys.js';
import { SqliteDataStore } from '../../ca-server/datastore/sqlite.js';
import { generateKeyPair, keyAlgorithmOf, privateKeyToPem } from '../../core/x509/keys.js';

const HOUR = 3600 * 1000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR);

describe('JwtKeyManager', () => {
  let dir: string;
  let store: SqliteDataStore;
  const managers: JwtKeyManager[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshid-jwtkeys-'));
    store = SqliteDataStore.open(dir);
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** 24 h key lifetime, 1 h max token TTL, clock fixed at T0 unless a check passes its own time. */
  async function started(options: Partial<JwtKeyManagerOptions> = {}): Promise<JwtKeyManager> {
    const m = new JwtKeyManager({ dataDir: dir, store, maxTokenTtlSeconds: 3600, now: () => T0, ...options });
    managers.push(m);
    await m.start();
    return m;
  }
  const kids = (m: JwtKeyManager) => m.bundleKeys().map((k) => k.keyId);

  it('creates one ES256 key on first start and records it as active', async () => {
    const m = await started();
    const key = m.active();
    expect(key.algorithm).toBe('ES256');
    expect(keyAlgorithmOf(key.privateKey)).toBe('ec-p256');
    expect(kids(m)).toEqual([key.kid]);
    expect(await store.listJwtKeys()).toEqual([
      expect.objectContaining({ id: key.kid, state: 'active', algorithm: 'ES256', keyPath: `keys/jwt-${key.kid}.pem`, createdAt: T0 }),
    ]);
  });

  it.each<[JwtAlgorithm, string]>([
    ['ES384', 'ec-p384'],
    ['RS256', 'rsa-2048'],
    ['PS256', 'rsa-2048'],
  ])('creates %s keys when configured', async (algorithm, keyType) => {
    const m = await started({ algorithm });
    expect(m.active().algorithm).toBe(algorithm);
    expect(keyAlgorithmOf(m.active().privateKey)).toBe(keyType);
  });

  it('reuses the recorded key on restart, whatever algorithm is configured now', async () => {
    const first = await started();
    const kid = first.active().kid;
    await first.close();
    const second = await started({ algorithm: 'RS256' });
    expect(second.active().kid).toBe(kid);
    expect(second.active().algorithm).toBe('ES256');
    expect(await store.listJwtKeys()).toHaveLength(1);
  });

  it('publishes the successor at half the lifetime, hands over at 5/6, and drops the old key once its tokens expired', async () => {
    const m = await started();
    const changes: string[][] = [];
    m.onChange(() => changes.push(kids(m)));
    const first = m.active().kid;

    expect(await m.rotateIfDue(at(11))).toEqual({});
    const { prepared } = await m.rotateIfDue(at(12));
    expect(prepared).toBeDefined();
    expect(m.active().kid).toBe(first); // published, not yet signing
    expect(kids(m)).toEqual([first, prepared]);

    expect(await m.rotateIfDue(at(19.9))).toEqual({});
    expect(await m.rotateIfDue(at(20))).toEqual({ activated: prepared, retired: first });
    expect(m.active().kid).toBe(prepared);
    expect(kids(m)).toEqual([first, prepared]); // the retired key still verifies its tokens

    await m.rotateIfDue(at(20.99));
    expect(kids(m)).toContain(first);
    await m.rotateIfDue(at(21)); // retired at 20 h + 1 h max TTL
    expect(kids(m)).toEqual([prepared]);

    expect(changes).toEqual([[first, prepared], [prepared]]);
    const retired = (await store.listJwtKeys({ state: 'retired' }))[0];
    expect(retired).toMatchObject({ id: first, retiredAt: at(20), publishedUntil: at(21) });
  });

  it('replaces a key that expired while the server was down at once', async () => {
    const m = await started();
    const first = m.active().kid;
    const result = await m.rotateIfDue(at(30));
    expect(result).toEqual({ prepared: expect.any(String), activated: result.prepared, retired: first });
    expect(m.active().kid).toBe(result.prepared);
  });

  it('shares state through the datastore: a second server adopts what the first rotated', async () => {
    const a = await started();
    const b = await started();
    expect(b.active().kid).toBe(a.active().kid);
    await a.rotateIfDue(at(12));
    await b.rotateIfDue(at(12)); // finds the prepared key instead of making another
    expect(await store.listJwtKeys({ state: 'prepared' })).toHaveLength(1);
    await a.rotateIfDue(at(20));
    await b.rotateIfDue(at(20));
    expect(b.active().kid).toBe(a.active().kid);
    expect(await store.listJwtKeys({ state: 'active' })).toHaveLength(1);
  });

  it('refuses a key file that does not belong to the recorded key', async () => {
    const first = await started();
    const kid = first.active().kid;
    await first.close();
    const file = path.join(dir, 'keys', `jwt-${kid}.pem`);
    await writeFile(file, privateKeyToPem(generateKeyPair().privateKey));
    await chmod(file, 0o600);
    const m = new JwtKeyManager({ dataDir: dir, store, maxTokenTtlSeconds: 3600, now: () => T0 });
    managers.push(m);
    await expect(m.start()).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'key_mismatch' });
  });

  it('refuses a key file others can read', async () => {
    const first = await started();
    const kid = first.active().kid;
    await first.close();
    await chmod(path.join(dir, 'keys', `jwt-${kid}.pem`), 0o644);
    const m = new JwtKeyManager({ dataDir: dir, store, maxTokenTtlSeconds: 3600, now: () => T0 });
    managers.push(m);
    await expect(m.start()).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'key_file_insecure' });
  });

  it('rejects a key lifetime under a minute', () => {
    expect(() => new JwtKeyManager({ dataDir: dir, store, maxTokenTtlSeconds: 60, keyLifetimeSeconds: 30 })).toThrow(
      /keyLifetimeSeconds must be a whole number of seconds >= 60/,
    );
  });
});
