import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeDataStoreContract } from '../../test/datastore/contract.js';
import { at, codeOf, entry, token } from '../../test/datastore/fixtures.js';
import { DATASTORE_FILE, SqliteDataStore } from './sqlite.js';
import { CONSUME_JOIN_TOKEN_SQL } from './sqlite-queries.js';

describeDataStoreContract('SqliteDataStore', async () => SqliteDataStore.open(':memory:'));

describe('SqliteDataStore in one process', () => {
  let store: SqliteDataStore;
  beforeEach(() => {
    store = SqliteDataStore.open(':memory:');
  });
  afterEach(async () => {
    await store.close();
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
