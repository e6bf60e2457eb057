import type Database from 'better-sqlite3';
import { pendingMigrations, type Migration } from './schema-version.js';

/** Dates are integer milliseconds since the epoch; string lists are JSON arrays. Versions start at 1. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE join_tokens (
        id          TEXT PRIMARY KEY,
        token_hash  TEXT NOT NULL UNIQUE,
        spiffe_id   TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        used_at     INTEGER,
        revoked_at  INTEGER
      );
      CREATE TABLE agents (
        spiffe_id         TEXT PRIMARY KEY,
        attestation_type  TEXT NOT NULL,
        serial_number     TEXT NOT NULL,
        expires_at        INTEGER NOT NULL,
        attested_at       INTEGER NOT NULL,
        last_seen_at      INTEGER NOT NULL,
        selectors         TEXT NOT NULL,
        evicted_at        INTEGER
      );
      CREATE TABLE registration_entries (
        id           TEXT PRIMARY KEY,
        spiffe_id    TEXT NOT NULL,
        parent_id    TEXT NOT NULL,
        selectors    TEXT NOT NULL,
        ttl_seconds  INTEGER NOT NULL,
        dns_names    TEXT NOT NULL,
        created_at   INTEGER NOT NULL
      );
      CREATE INDEX registration_entries_parent_id ON registration_entries (parent_id);
      CREATE TABLE authorities (
        id                  TEXT PRIMARY KEY,
        kind                TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
        state               TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
        upstream            TEXT NOT NULL,
        certificate_pem     TEXT NOT NULL,
        key_path            TEXT,
        upstream_roots_pem  TEXT,
        not_before          INTEGER NOT NULL,
        not_after           INTEGER NOT NULL,
        created_at          INTEGER NOT NULL,
        activated_at        INTEGER,
        retired_at          INTEGER
      );
    `,
  },
  {
    version: 2,
    name: 'jwt signing keys',
    sql: `
      CREATE TABLE jwt_keys (
        id               TEXT PRIMARY KEY,
        state            TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
        algorithm        TEXT NOT NULL,
        public_key_pem   TEXT NOT NULL,
        key_path         TEXT NOT NULL,
        not_after        INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        activated_at     INTEGER,
        retired_at       INTEGER,
        published_until  INTEGER
      );
    `,
  },
  {
    version: 3,
    name: 'agent serial binding and bans',
    // Eviction now deletes the agent record; records evicted under the old scheme go the same way.
    sql: `
      ALTER TABLE agents ADD COLUMN new_serial_number TEXT;
      DELETE FROM agents WHERE evicted_at IS NOT NULL;
      ALTER TABLE agents DROP COLUMN evicted_at;
      CREATE TABLE agent_bans (
        spiffe_id  TEXT PRIMARY KEY,
        banned_at  INTEGER NOT NULL,
        reason     TEXT NOT NULL
      );
      CREATE INDEX registration_entries_spiffe_id ON registration_entries (spiffe_id);
    `,
  },
];

/**
 * Brings the schema to the newest version. All pending migrations run in one BEGIN IMMEDIATE transaction, so
 * a failure leaves the database as it was and two processes starting together cannot both migrate.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const record = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');

  const apply = db.transaction(() => {
    for (const m of pendingMigrations(migrations, 1, readSchemaVersion(db))) {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }
  });
  apply.immediate();
}

/** The newest migration applied to the database, read without changing it: 0 when it has no meshid schema. */
export function readSchemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!table) return 0;
  return (db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null }).v ?? 0;
}
