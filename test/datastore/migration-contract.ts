// The schema-migration story both backends share (ca-server/datastore/schema-version.ts), run by each
// backend's migration suite against a fresh database per test.
import { describe, expect, it } from 'vitest';
import type { DataStore } from '../../ca-server/datastore/datastore.js';
import type { Migration } from '../../ca-server/datastore/schema-version.js';
import { agent } from './fixtures.js';

export interface MigrationTarget {
  /** The backend's DataStore on this test's database, migrated with `migrations` (default: its built-in list). */
  open(migrations?: readonly Migration[]): Promise<DataStore>;
  /** What `schema_version` records, in order. */
  versions(): Promise<number[]>;
  tables(): Promise<string[]>;
}

export const SCHEMA_TABLES = ['agent_bans', 'agents', 'authorities', 'join_tokens', 'jwt_keys', 'registration_entries', 'schema_version'];

export function describeMigrationContract(name: string, builtIn: readonly Migration[], freshTarget: () => Promise<MigrationTarget>): void {
  const first = builtIn[0]!.version;
  const latest = builtIn.at(-1)!.version;
  // Valid SQL in both dialects.
  const addNotes: Migration = {
    version: latest + 1,
    name: 'add notes',
    sql: "CREATE TABLE notes (id TEXT PRIMARY KEY); ALTER TABLE agents ADD COLUMN note TEXT NOT NULL DEFAULT '';",
  };
  const broken: Migration = { version: latest + 1, name: 'broken', sql: 'CREATE TABLE half (x TEXT); SELEC nonsense;' };
  const reopen = async (target: MigrationTarget, migrations?: readonly Migration[]) => (await target.open(migrations)).close();

  describe(`${name}: schema migrations`, () => {
    it('creates the whole schema on an empty database and records every version', async () => {
      const target = await freshTarget();
      await reopen(target);
      expect(await target.versions()).toEqual(builtIn.map((m) => m.version));
      expect(await target.tables()).toEqual(SCHEMA_TABLES);
    });

    it('changes nothing when opened again', async () => {
      const target = await freshTarget();
      await reopen(target);
      await reopen(target);
      expect(await target.versions()).toEqual(builtIn.map((m) => m.version));
    });

    it('upgrades a populated database in place: applies only the new migration and keeps every row', async () => {
      const target = await freshTarget();
      const old = await target.open();
      await old.upsertAgent(agent('a'));
      await old.close();
      const upgraded = await target.open([...builtIn, addNotes]);
      expect(await upgraded.getAgent(agent('a').spiffeId)).toEqual(agent('a'));
      await upgraded.close();
      expect(await target.versions()).toEqual([...builtIn.map((m) => m.version), addNotes.version]);
      expect(await target.tables()).toEqual([...SCHEMA_TABLES, 'notes'].sort());
    });

    it('rolls a failing migration back completely', async () => {
      const target = await freshTarget();
      await reopen(target);
      await expect(target.open([...builtIn, broken])).rejects.toThrow();
      expect(await target.tables()).toEqual(SCHEMA_TABLES);
      expect(await target.versions()).toEqual(builtIn.map((m) => m.version));
    });

    it('refuses a database written by a newer meshid', async () => {
      const target = await freshTarget();
      await reopen(target, [...builtIn, addNotes]);
      await expect(target.open()).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: `datastore schema version ${addNotes.version} is newer than this meshid supports (${latest}); upgrade meshid or restore a backup`,
      });
    });

    it('rejects a migration list with gaps', async () => {
      const target = await freshTarget();
      await expect(target.open([...builtIn, { ...addNotes, version: latest + 2 }])).rejects.toThrow(
        `migration "add notes" has version ${latest + 2}, expected ${latest + 1}`,
      );
      await expect(target.open([{ ...addNotes, version: first + 1 }])).rejects.toThrow(`expected ${first}`);
    });
  });
}
