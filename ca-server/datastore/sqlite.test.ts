import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRecord, AuthorityRecord, JoinTokenRecord, RegistrationEntry } from './datastore.js';
import { DATASTORE_FILE, SqliteDataStore } from './sqlite.js';
import { CONSUME_JOIN_TOKEN_SQL } from './sqlite-queries.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const token = (id: string, over: Partial<JoinTokenRecord> = {}): JoinTokenRecord => ({
  id,
  tokenHash: `hash-${id}`,
  spiffeId: `spiffe://example.org/agent/${id}`,
  createdAt: T0,
  expiresAt: at(600),
  ...over,
});

const agent = (name: string, over: Partial<AgentRecord> = {}): AgentRecord => ({
  spiffeId: `spiffe://example.org/agent/${name}`,
  attestationType: 'join_token',
  serialNumber: '0a1b',
  expiresAt: at(3600),
  attestedAt: T0,
  lastSeenAt: T0,
  selectors: ['k8s:node-name:worker-1', 'join_token:abc'],
  ...over,
});

const entry = (id: string, parentId: string, over: Partial<RegistrationEntry> = {}): RegistrationEntry => ({
  id,
  spiffeId: `spiffe://example.org/workload/${id}`,
  parentId,
  selectors: ['unix:uid:1000'],
  ttlSeconds: 0,
  dnsNames: [],
  createdAt: T0,
  ...over,
});

const authority = (id: string, over: Partial<AuthorityRecord> = {}): AuthorityRecord => ({
  id,
  kind: 'intermediate',
  state: 'prepared',
  upstream: 'self-signed',
  certificatePem: `PEM-${id}`,
  notBefore: T0,
  notAfter: at(86400),
  createdAt: T0,
  ...over,
});

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);

describe('SqliteDataStore', () => {
  let store: SqliteDataStore;
  beforeEach(() => {
    store = SqliteDataStore.open(':memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  describe('join tokens', () => {
    it('stores and lists tokens without inventing optional fields', async () => {
      await store.createJoinToken(token('b', { createdAt: at(1) }));
      await store.createJoinToken(token('a', { createdAt: at(2), revokedAt: at(3) }));
      expect(await store.listJoinTokens()).toEqual([token('b', { createdAt: at(1) }), token('a', { createdAt: at(2), revokedAt: at(3) })]);
    });

    it('rejects a duplicate id or token hash with ALREADY_EXISTS', async () => {
      await store.createJoinToken(token('a'));
      expect(await codeOf(store.createJoinToken(token('a', { tokenHash: 'other' })))).toBe('ALREADY_EXISTS');
      expect(await codeOf(store.createJoinToken(token('b', { tokenHash: 'hash-a' })))).toBe('ALREADY_EXISTS');
    });

    it('consumes a valid token once, stamping usedAt', async () => {
      await store.createJoinToken(token('a'));
      expect(await store.consumeJoinToken('hash-a', at(10))).toEqual({ ok: true, token: token('a', { usedAt: at(10) }) });
      expect(await store.consumeJoinToken('hash-a', at(11))).toEqual({ ok: false, reason: 'used' });
      expect((await store.listJoinTokens())[0]!.usedAt).toEqual(at(10));
    });

    it('classifies unknown, expired and revoked tokens', async () => {
      await store.createJoinToken(token('exp', { expiresAt: at(60) }));
      await store.createJoinToken(token('rev'));
      expect(await store.revokeJoinToken('rev', at(5))).toBe(true);
      expect(await store.consumeJoinToken('nope', at(10))).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.consumeJoinToken('hash-exp', at(60))).toEqual({ ok: false, reason: 'expired' });
      expect(await store.consumeJoinToken('hash-rev', at(10))).toEqual({ ok: false, reason: 'revoked' });
      // failed attempts never mark a token used
      expect((await store.listJoinTokens()).every((t) => t.usedAt === undefined)).toBe(true);
    });

    it('accepts a token up to just before its expiry', async () => {
      await store.createJoinToken(token('a', { expiresAt: at(60) }));
      expect((await store.consumeJoinToken('hash-a', new Date(at(60).getTime() - 1))).ok).toBe(true);
    });

    it('reports revocation of a used token as revoked and keeps the first revocation time', async () => {
      await store.createJoinToken(token('a'));
      await store.consumeJoinToken('hash-a', at(1));
      expect(await store.revokeJoinToken('a', at(2))).toBe(true);
      expect(await store.revokeJoinToken('a', at(3))).toBe(true);
      expect(await store.consumeJoinToken('hash-a', at(4))).toEqual({ ok: false, reason: 'revoked' });
      expect((await store.listJoinTokens())[0]!.revokedAt).toEqual(at(2));
    });

    it('returns false when revoking an unknown id', async () => {
      expect(await store.revokeJoinToken('missing', at(1))).toBe(false);
    });

    it('lets exactly one of 50 concurrent consumers win', async () => {
      await store.createJoinToken(token('a'));
      const results = await Promise.all(Array.from({ length: 50 }, () => store.consumeJoinToken('hash-a', at(1))));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(49);
    });
  });

  describe('agents', () => {
    it('inserts, replaces on upsert, and lists sorted by SPIFFE ID', async () => {
      await store.upsertAgent(agent('b'));
      await store.upsertAgent(agent('a'));
      const renewed = agent('b', { serialNumber: 'ff', lastSeenAt: at(30), selectors: ['x:y'] });
      await store.upsertAgent(renewed);
      expect(await store.getAgent(renewed.spiffeId)).toEqual(renewed);
      expect((await store.listAgents()).map((a) => a.spiffeId)).toEqual([agent('a').spiffeId, agent('b').spiffeId]);
    });

    it('returns undefined for an unknown agent', async () => {
      expect(await store.getAgent('spiffe://example.org/agent/none')).toBeUndefined();
    });

    it('deletes evicted agents and returns false for unknown ones', async () => {
      await store.upsertAgent(agent('a'));
      expect(await store.deleteAgent(agent('a').spiffeId)).toBe(true);
      expect(await store.getAgent(agent('a').spiffeId)).toBeUndefined();
      expect(await store.deleteAgent(agent('a').spiffeId)).toBe(false);
    });

    it('records a renewal as the pending serial and promotes it only when it is the pending one', async () => {
      await store.upsertAgent(agent('a', { serialNumber: '01' }));
      expect(await store.renewAgent(agent('a').spiffeId, { newSerialNumber: '02', expiresAt: at(90), lastSeenAt: at(40) })).toBe(true);
      expect(await store.getAgent(agent('a').spiffeId)).toMatchObject({ serialNumber: '01', newSerialNumber: '02', expiresAt: at(90) });
      expect(await store.promoteAgentSerial(agent('a').spiffeId, '03')).toBe(false);
      expect(await store.promoteAgentSerial(agent('a').spiffeId, '02')).toBe(true);
      const promoted = await store.getAgent(agent('a').spiffeId);
      expect(promoted).toMatchObject({ serialNumber: '02' });
      expect(promoted!.newSerialNumber).toBeUndefined();
      expect(await store.promoteAgentSerial(agent('a').spiffeId, '02')).toBe(false);
    });

    it('refuses to record a renewal for an agent that is gone', async () => {
      expect(await store.renewAgent(agent('x').spiffeId, { newSerialNumber: '02', expiresAt: at(90), lastSeenAt: at(40) })).toBe(false);
      expect(await store.getAgent(agent('x').spiffeId)).toBeUndefined();
    });

    it('a fresh attestation (upsert) drops a pending serial', async () => {
      await store.upsertAgent(agent('a', { serialNumber: '01', newSerialNumber: '02' }));
      await store.upsertAgent(agent('a', { serialNumber: '05' }));
      expect(await store.getAgent(agent('a').spiffeId)).toEqual(agent('a', { serialNumber: '05' }));
    });

    it('bans delete the agent, keep the first ban, list sorted, and unban once', async () => {
      await store.upsertAgent(agent('a'));
      await store.banAgent({ spiffeId: agent('a').spiffeId, bannedAt: at(5), reason: 'stolen disk' });
      await store.banAgent({ spiffeId: agent('a').spiffeId, bannedAt: at(6), reason: 'again' });
      await store.banAgent({ spiffeId: agent('0').spiffeId, bannedAt: at(7), reason: '' });
      expect(await store.getAgent(agent('a').spiffeId)).toBeUndefined();
      expect(await store.getAgentBan(agent('a').spiffeId)).toEqual({ spiffeId: agent('a').spiffeId, bannedAt: at(5), reason: 'stolen disk' });
      expect((await store.listAgentBans()).map((b) => b.spiffeId)).toEqual([agent('0').spiffeId, agent('a').spiffeId]);
      expect(await store.unbanAgent(agent('a').spiffeId)).toBe(true);
      expect(await store.unbanAgent(agent('a').spiffeId)).toBe(false);
      expect(await store.getAgentBan(agent('a').spiffeId)).toBeUndefined();
    });
  });

  describe('registration entries', () => {
    it('creates, gets and lists entries, filtered by parent', async () => {
      await store.createEntry(entry('e2', 'p1', { createdAt: at(2), dnsNames: ['web.local'], ttlSeconds: 600 }));
      await store.createEntry(entry('e1', 'p1', { createdAt: at(1) }));
      await store.createEntry(entry('e3', 'p2', { createdAt: at(3) }));
      expect(await store.getEntry('e2')).toEqual(entry('e2', 'p1', { createdAt: at(2), dnsNames: ['web.local'], ttlSeconds: 600 }));
      expect((await store.listEntries()).map((e) => e.id)).toEqual(['e1', 'e2', 'e3']);
      expect((await store.listEntries({ parentId: 'p1' })).map((e) => e.id)).toEqual(['e1', 'e2']);
      expect((await store.listEntries({ parentId: 'p2' })).map((e) => e.id)).toEqual(['e3']);
      expect(await store.listEntries({ parentId: 'p9' })).toEqual([]);
      await store.createEntry(entry('e4', 'p2', { createdAt: at(4), spiffeId: entry('e1', 'p1').spiffeId }));
      expect((await store.listEntries({ spiffeId: entry('e1', 'p1').spiffeId })).map((e) => e.id)).toEqual(['e1', 'e4']);
      expect((await store.listEntries({ spiffeId: entry('e1', 'p1').spiffeId, parentId: 'p2' })).map((e) => e.id)).toEqual(['e4']);
    });

    it('rejects a duplicate id and reports unknown ids', async () => {
      await store.createEntry(entry('e1', 'p1'));
      expect(await codeOf(store.createEntry(entry('e1', 'p2')))).toBe('ALREADY_EXISTS');
      expect(await store.getEntry('none')).toBeUndefined();
      expect(await store.deleteEntry('none')).toBe(false);
    });

    it('deletes entries', async () => {
      await store.createEntry(entry('e1', 'p1'));
      expect(await store.deleteEntry('e1')).toBe(true);
      expect(await store.getEntry('e1')).toBeUndefined();
      expect(await store.deleteEntry('e1')).toBe(false);
    });
  });

  describe('authorities', () => {
    it('round-trips every field and updates on put', async () => {
      const full = authority('a', {
        keyPath: 'keys/a.pem',
        upstreamRootsPem: 'ROOTS',
        state: 'retired',
        activatedAt: at(1),
        retiredAt: at(2),
      });
      await store.putAuthority(authority('a'));
      await store.putAuthority(full);
      expect(await store.listAuthorities()).toEqual([full]);
    });

    it('filters by state and kind', async () => {
      await store.putAuthority(authority('i1', { state: 'active', createdAt: at(1) }));
      await store.putAuthority(authority('i2', { state: 'prepared', createdAt: at(2) }));
      await store.putAuthority(authority('i0', { state: 'retired', createdAt: at(0) }));
      await store.putAuthority(authority('r1', { kind: 'root', state: 'active', createdAt: at(3) }));
      const ids = async (f?: Parameters<SqliteDataStore['listAuthorities']>[0]) =>
        (await store.listAuthorities(f)).map((a) => a.id);
      expect(await ids()).toEqual(['i0', 'i1', 'i2', 'r1']);
      expect(await ids({ state: 'active' })).toEqual(['i1', 'r1']);
      expect(await ids({ kind: 'root' })).toEqual(['r1']);
      expect(await ids({ state: 'active', kind: 'intermediate' })).toEqual(['i1']);
      expect(await ids({ state: 'retired', kind: 'root' })).toEqual([]);
    });
  });

  describe('transactions', () => {
    it('commits the callback result', async () => {
      const result = await store.transaction(async (tx) => {
        await tx.createEntry(entry('e1', 'p1'));
        await tx.putAuthority(authority('a'));
        return 42;
      });
      expect(result).toBe(42);
      expect(await store.getEntry('e1')).toBeDefined();
      expect(await store.listAuthorities()).toHaveLength(1);
    });

    it('rolls everything back when the callback throws', async () => {
      await store.createEntry(entry('kept', 'p1'));
      const failed = store.transaction(async (tx) => {
        await tx.createEntry(entry('e1', 'p1'));
        await tx.deleteEntry('kept');
        throw new Error('boom');
      });
      await expect(failed).rejects.toThrow('boom');
      expect((await store.listEntries()).map((e) => e.id)).toEqual(['kept']);
    });

    it('holds other callers back until the transaction ends, so their writes never join it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const order: string[] = [];
      const tx = store.transaction(async (t) => {
        await t.createEntry(entry('in-tx', 'p1'));
        await gate;
        order.push('tx done');
        throw new Error('rolled back');
      });
      const outside = store.createEntry(entry('outside', 'p1'));
      const otherTx = store.transaction(async (t) => {
        order.push('second tx started');
        return t.listEntries();
      });
      release();
      await expect(tx).rejects.toThrow('rolled back');
      await outside;
      // the plain write queued during the first transaction ran after it, before the second one
      expect((await otherTx).map((e) => e.id)).toEqual(['outside']);
      expect(order).toEqual(['tx done', 'second tx started']);
      expect((await store.listEntries()).map((e) => e.id)).toEqual(['outside']);
    });

    it('fails fast instead of deadlocking when the store itself is used inside its transaction', async () => {
      const inner = store.transaction(async () => store.listEntries());
      expect(await codeOf(inner)).toBe('INTERNAL');
      expect(await codeOf(store.transaction(async () => store.transaction(async () => 1)))).toBe('INTERNAL');
    });

    it('joins nested transactions to the outer one', async () => {
      const failed = store.transaction(async (tx) => {
        await tx.transaction(async (inner) => inner.createEntry(entry('nested', 'p1')));
        throw new Error('outer fails');
      });
      await expect(failed).rejects.toThrow('outer fails');
      expect(await store.getEntry('nested')).toBeUndefined();
    });

    it('refuses a transaction handle used after the transaction finished', async () => {
      const leaked = await store.transaction(async (tx) => tx);
      expect(await codeOf(leaked.listEntries())).toBe('INTERNAL');
    });

    it('makes consume inside a transaction part of it', async () => {
      await store.createJoinToken(token('a'));
      await expect(
        store.transaction(async (tx) => {
          expect((await tx.consumeJoinToken('hash-a', at(1))).ok).toBe(true);
          throw new Error('attestation failed later');
        }),
      ).rejects.toThrow('attestation failed later');
      expect((await store.consumeJoinToken('hash-a', at(2))).ok).toBe(true);
    });
  });

  it('waits for a running transaction before closing and refuses later calls', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = store.transaction(async (t) => {
      await gate;
      await t.createEntry(entry('e1', 'p1'));
    });
    const closed = store.close();
    release();
    await tx;
    await closed;
    expect(await codeOf(store.listEntries())).toBe('FAILED_PRECONDITION');
    await store.close();
  });
});

describe('SqliteDataStore on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshid-ds-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a 0600 WAL database in a 0700 data dir and keeps data across reopen', async () => {
    const dataDir = join(dir, 'data');
    const first = SqliteDataStore.open(dataDir);
    await first.createJoinToken(token('a'));
    // SQLite gives the WAL the database file's mode
    expect(statSync(join(dataDir, `${DATASTORE_FILE}-wal`)).mode & 0o777).toBe(0o600);
    await first.close();
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, DATASTORE_FILE)).mode & 0o777).toBe(0o600);

    const second = SqliteDataStore.open(dataDir);
    expect(await second.listJoinTokens()).toEqual([token('a')]);
    await second.close();
    const raw = new Database(join(dataDir, DATASTORE_FILE), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('tightens an existing database file to 0600', async () => {
    writeFileSync(join(dir, DATASTORE_FILE), '', { mode: 0o644 });
    const store = SqliteDataStore.open(dir);
    expect(statSync(join(dir, DATASTORE_FILE)).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('refuses a file that is not a database with an actionable error', () => {
    writeFileSync(join(dir, DATASTORE_FILE), 'x'.repeat(4096), { mode: 0o600 });
    expect(() => SqliteDataStore.open(dir)).toThrow(/not a valid SQLite database .*meshid\.db.*backup/);
  });

  it('lets exactly one consumer win across two connections on the same file', async () => {
    const a = SqliteDataStore.open(dir);
    const b = SqliteDataStore.open(dir);
    await a.createJoinToken(token('t'));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).consumeJoinToken('hash-t', at(1))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(49);
    await a.close();
    await b.close();
  });

  it('lets exactly one of 8 processes racing the consume statement win', async () => {
    const setup = SqliteDataStore.open(dir);
    await setup.createJoinToken(token('t'));
    await setup.close();
    // Each child spins until a shared start time, then runs the same single UPDATE on its own connection.
    const child = `import Database from 'better-sqlite3';
      const db = new Database(process.env.DB_FILE, { timeout: 10000 });
      while (Date.now() < Number(process.env.START_AT)) {}
      const row = db.prepare(process.env.SQL).get({ tokenHash: 'hash-t', now: Number(process.env.NOW) });
      process.stdout.write(row ? 'won' : 'lost');`;
    const env = {
      ...process.env,
      DB_FILE: join(dir, DATASTORE_FILE),
      START_AT: String(Date.now() + 1500),
      SQL: CONSUME_JOIN_TOKEN_SQL,
      NOW: String(at(1).getTime()),
    };
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: 8 }, () => run(process.execPath, ['--input-type=module', '-e', child], { env, cwd: process.cwd() })),
    );
    expect(outputs.map((o) => o.stdout).sort()).toEqual(['lost', 'lost', 'lost', 'lost', 'lost', 'lost', 'lost', 'won']);
    const check = SqliteDataStore.open(dir);
    expect(await check.consumeJoinToken('hash-t', at(2))).toEqual({ ok: false, reason: 'used' });
    await check.close();
  });

  it('answers UNAVAILABLE when another connection holds the write lock past the busy timeout', async () => {
    const a = SqliteDataStore.open(dir);
    const b = SqliteDataStore.open(dir, { busyTimeoutMs: 20 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let began!: () => void;
    const inside = new Promise<void>((r) => (began = r));
    const held = a.transaction(async (tx) => {
      await tx.createEntry(entry('e1', 'p1'));
      began();
      await gate;
    });
    await inside;
    expect(await codeOf(b.createEntry(entry('e2', 'p1')))).toBe('UNAVAILABLE');
    release();
    await held;
    await b.createEntry(entry('e2', 'p1'));
    expect((await a.listEntries()).map((e) => e.id)).toEqual(['e1', 'e2']);
    await a.close();
    await b.close();
  });
});
