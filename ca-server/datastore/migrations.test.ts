import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate, type Migration } from './migrations.js';
import { DATASTORE_FILE, SqliteDataStore } from './sqlite.js';

const versions = (db: Database.Database) =>
  (db.prepare('SELECT version FROM schema_version ORDER BY version').all() as { version: number }[]).map((r) => r.version);
const tables = (db: Database.Database) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);

const addNotes: Migration = {
  version: MIGRATIONS.length + 1,
  name: 'add notes',
  sql: "CREATE TABLE notes (id TEXT PRIMARY KEY); ALTER TABLE agents ADD COLUMN note TEXT NOT NULL DEFAULT '';",
};

describe('migrate', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
  });
  afterEach(() => db.close());

  it('creates the schema on an empty database and records every version', () => {
    expect(migrate(db)).toEqual({ from: 0, to: MIGRATIONS.length });
    expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(tables(db)).toEqual(['agent_bans', 'agents', 'authorities', 'join_tokens', 'jwt_keys', 'registration_entries', 'schema_version']);
  });

  it('is a no-op when run again', () => {
    migrate(db);
    expect(migrate(db)).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length });
    expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('applies only the new migrations, in order', () => {
    migrate(db);
    expect(migrate(db, [...MIGRATIONS, addNotes])).toEqual({ from: MIGRATIONS.length, to: addNotes.version });
    expect(tables(db)).toContain('notes');
  });

  it('rolls a failing migration back completely', () => {
    migrate(db);
    const broken: Migration = { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE half (x); SELEC nonsense;' };
    expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow();
    expect(tables(db)).not.toContain('half');
    expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('refuses a database written by a newer meshid', () => {
    migrate(db, [...MIGRATIONS, addNotes]);
    expect(() => migrate(db)).toThrow(
      `schema version ${addNotes.version} is newer than this meshid supports (${MIGRATIONS.length})`,
    );
  });

  it('rejects a migration list with gaps or reordering', () => {
    expect(() => migrate(db, [{ ...addNotes, version: 3 }])).toThrow(/expected 1/);
  });
});

describe('migrations on an existing file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshid-mig-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('upgrades a populated database in place and keeps its rows', async () => {
    const old = SqliteDataStore.open(dir);
    const agent = {
      spiffeId: 'spiffe://example.org/agent/a',
      attestationType: 'join_token',
      serialNumber: '01',
      expiresAt: new Date(2_000_000_000_000),
      attestedAt: new Date(1_900_000_000_000),
      lastSeenAt: new Date(1_900_000_000_000),
      selectors: ['a:b'],
    };
    await old.upsertAgent(agent);
    await old.close();

    const upgraded = SqliteDataStore.open(dir, { migrations: [...MIGRATIONS, addNotes] });
    expect(await upgraded.getAgent(agent.spiffeId)).toEqual(agent);
    await upgraded.close();

    const raw = new Database(join(dir, DATASTORE_FILE));
    expect(versions(raw)).toEqual([...MIGRATIONS.map((m) => m.version), addNotes.version]);
    expect(raw.prepare('SELECT note FROM agents').get()).toEqual({ note: '' });
    raw.close();
  });

  it('version 3 drops agents evicted under the old scheme and keeps the others, with no pending serial', async () => {
    const raw = new Database(join(dir, DATASTORE_FILE));
    migrate(raw, MIGRATIONS.slice(0, 2));
    const insert = raw.prepare(`INSERT INTO agents (spiffe_id, attestation_type, serial_number, expires_at, attested_at,
      last_seen_at, selectors, evicted_at) VALUES (?, 'join_token', '01', 2000, 1000, 1000, '[]', ?)`);
    insert.run('spiffe://example.org/meshid/agent/live', null);
    insert.run('spiffe://example.org/meshid/agent/evicted', 1500);
    raw.close();

    const upgraded = SqliteDataStore.open(dir);
    expect((await upgraded.listAgents()).map((a) => [a.spiffeId, a.serialNumber, a.newSerialNumber])).toEqual([
      ['spiffe://example.org/meshid/agent/live', '01', undefined],
    ]);
    expect(await upgraded.listAgentBans()).toEqual([]);
    await upgraded.close();
  });

  it('does not reapply migrations on restart', async () => {
    await SqliteDataStore.open(dir).close();
    await SqliteDataStore.open(dir).close();
    const raw = new Database(join(dir, DATASTORE_FILE));
    expect(versions(raw)).toEqual(MIGRATIONS.map((m) => m.version));
    raw.close();
  });
});
