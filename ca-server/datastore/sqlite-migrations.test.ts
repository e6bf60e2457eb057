import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { describeMigrationContract, type MigrationTarget } from '../../test/datastore/migration-contract.js';
import { MIGRATIONS, migrate } from './sqlite-migrations.js';
import { DATASTORE_FILE, SqliteDataStore } from './sqlite.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A data dir of its own; the schema is read through a separate connection. */
function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshid-mig-'));
  dirs.push(dir);
  return dir;
}

function readRaw<T>(dir: string, read: (db: Database.Database) => T): T {
  const db = new Database(join(dir, DATASTORE_FILE), { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

describeMigrationContract('SQLite', MIGRATIONS, async (): Promise<MigrationTarget> => {
  const dir = freshDataDir();
  return {
    open: async (migrations) => SqliteDataStore.open(dir, { migrations }),
    versions: async () =>
      readRaw(dir, (db) => (db.prepare('SELECT version FROM schema_version ORDER BY version').all() as { version: number }[]).map((r) => r.version)),
    tables: async () =>
      readRaw(dir, (db) =>
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name),
      ),
  };
});

describe('SQLite upgrade from the previous release (schema 2)', () => {
  it('version 3 drops agents evicted under the old scheme and keeps the others, with no pending serial', async () => {
    const dir = freshDataDir();
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
});
