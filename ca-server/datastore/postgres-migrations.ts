import type { Queryable } from './postgres-queries.js';
import { pendingMigrations, type Migration } from './schema-version.js';

/** PostgreSQL support arrived with schema version 3; its first migration creates that schema whole. */
export const POSTGRES_FIRST_VERSION = 3;

/**
 * Dates are timestamptz, string lists text[]. Keys and the columns lists are sorted by use the "C" collation:
 * byte order, as in SQLite, whatever the database's locale.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 3,
    name: 'initial schema (SQLite versions 1-3)',
    sql: `
      CREATE TABLE join_tokens (
        id          TEXT COLLATE "C" PRIMARY KEY,
        token_hash  TEXT NOT NULL UNIQUE,
        spiffe_id   TEXT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        expires_at  TIMESTAMPTZ NOT NULL,
        used_at     TIMESTAMPTZ,
        revoked_at  TIMESTAMPTZ
      );
      CREATE TABLE agents (
        spiffe_id          TEXT COLLATE "C" PRIMARY KEY,
        attestation_type   TEXT NOT NULL,
        serial_number      TEXT NOT NULL,
        new_serial_number  TEXT,
        expires_at         TIMESTAMPTZ NOT NULL,
        attested_at        TIMESTAMPTZ NOT NULL,
        last_seen_at       TIMESTAMPTZ NOT NULL,
        selectors          TEXT[] NOT NULL
      );
      CREATE TABLE agent_bans (
        spiffe_id  TEXT COLLATE "C" PRIMARY KEY,
        banned_at  TIMESTAMPTZ NOT NULL,
        reason     TEXT NOT NULL
      );
      CREATE TABLE registration_entries (
        id           TEXT COLLATE "C" PRIMARY KEY,
        spiffe_id    TEXT NOT NULL,
        parent_id    TEXT NOT NULL,
        selectors    TEXT[] NOT NULL,
        ttl_seconds  INTEGER NOT NULL,
        dns_names    TEXT[] NOT NULL,
        created_at   TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX registration_entries_parent_id ON registration_entries (parent_id);
      CREATE INDEX registration_entries_spiffe_id ON registration_entries (spiffe_id);
      CREATE TABLE authorities (
        id                  TEXT COLLATE "C" PRIMARY KEY,
        kind                TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
        state               TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
        upstream            TEXT NOT NULL,
        certificate_pem     TEXT NOT NULL,
        key_path            TEXT,
        upstream_roots_pem  TEXT,
        not_before          TIMESTAMPTZ NOT NULL,
        not_after           TIMESTAMPTZ NOT NULL,
        created_at          TIMESTAMPTZ NOT NULL,
        activated_at        TIMESTAMPTZ,
        retired_at          TIMESTAMPTZ
      );
      CREATE TABLE jwt_keys (
        id               TEXT COLLATE "C" PRIMARY KEY,
        state            TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
        algorithm        TEXT NOT NULL,
        public_key_pem   TEXT NOT NULL,
        key_path         TEXT NOT NULL,
        not_after        TIMESTAMPTZ NOT NULL,
        created_at       TIMESTAMPTZ NOT NULL,
        activated_at     TIMESTAMPTZ,
        retired_at       TIMESTAMPTZ,
        published_until  TIMESTAMPTZ
      );
    `,
  },
];

/**
 * The one cluster-wide lock of meshid's PostgreSQL datastore (the ASCII of "meshid"): every DataStore
 * transaction and every migration holds it until it ends, as SQLite's single writer would be held.
 */
export const DATASTORE_LOCK_SQL = 'SELECT pg_advisory_xact_lock(120282495347044)';

/**
 * Brings the schema to the newest version. Runs inside a transaction holding the datastore lock
 * (PostgresDataStore.open): DDL is transactional in PostgreSQL, so a failure leaves the database as it was,
 * and of several replicas starting together one migrates while the others wait, then find nothing to do.
 */
export async function applyMigrations(db: Queryable, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  for (const m of pendingMigrations(migrations, POSTGRES_FIRST_VERSION, await readSchemaVersion(db))) {
    await db.query(m.sql);
    await db.query('INSERT INTO schema_version (version, name) VALUES ($1, $2)', [m.version, m.name]);
  }
}

/** The newest migration applied to the database, read without changing it: 0 when it has no meshid schema. */
export async function readSchemaVersion(db: Queryable): Promise<number> {
  const { rows: [table] } = await db.query("SELECT to_regclass('schema_version') IS NOT NULL AS present");
  if (!(table as { present: boolean }).present) return 0;
  const { rows } = await db.query('SELECT MAX(version) AS v FROM schema_version');
  return (rows[0] as { v: number | null } | undefined)?.v ?? 0;
}
