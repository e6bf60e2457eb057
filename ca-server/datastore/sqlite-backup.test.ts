import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entry } from '../../test/datastore/fixtures.js';
import { MIGRATIONS } from './sqlite-migrations.js';
import { DATASTORE_FILE, SqliteDataStore } from './sqlite.js';
import { backupSqliteDatastore, restoreSqliteDatastore } from './sqlite-backup.js';

const LATEST = MIGRATIONS.at(-1)!.version;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshid-backup-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Entry IDs in the data dir's datastore. */
async function entryIds(dataDir: string): Promise<string[]> {
  const store = SqliteDataStore.open(dataDir);
  try {
    return (await store.listEntries()).map((e) => e.id);
  } finally {
    await store.close();
  }
}

describe('SQLite datastore backup and restore', () => {
  it('writes one self-contained file in rollback-journal mode, whatever the live database is in', async () => {
    const store = SqliteDataStore.open(join(dir, 'data'));
    await store.createEntry(entry('kept', 'p1'));
    const out = join(dir, 'backup.db');
    expect(await backupSqliteDatastore(join(dir, 'data'), out)).toMatchObject({ file: out, schemaVersion: LATEST });
    await store.close();
    expect(['-wal', '-shm', '-journal'].filter((suffix) => existsSync(`${out}${suffix}`))).toEqual([]);
    const copy = new Database(out, { readonly: true });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    copy.close();
  });

  it('restores over the database a killed CA left with its WAL: the backup, with none of that WAL replayed onto it', async () => {
    const dataDir = join(dir, 'data');
    const store = SqliteDataStore.open(dataDir);
    await store.createEntry(entry('in-backup', 'p1'));
    const backup = join(dir, 'backup.db');
    await backupSqliteDatastore(dataDir, backup);
    await store.close();

    // A CA-like connection (WAL, never checkpointed) writes and is killed before it can close.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import Database from 'better-sqlite3';
        const db = new Database(process.env.DB_FILE);
        db.pragma('journal_mode = WAL');
        db.pragma('wal_autocheckpoint = 0');
        db.prepare("INSERT INTO registration_entries VALUES ('after-backup', 'spiffe://example.org/w', 'p1', '[]', 0, '[]', 0)").run();
        process.stdout.write('written');
        setInterval(() => {}, 1000);`,
      ],
      { env: { ...process.env, DB_FILE: join(dataDir, DATASTORE_FILE) }, cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(child.stdout, 'data');
    await expect(restoreSqliteDatastore(backup, dataDir)).rejects.toMatchObject({ reason: 'datastore_in_use' });
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(existsSync(join(dataDir, `${DATASTORE_FILE}-wal`))).toBe(true);

    expect(await restoreSqliteDatastore(backup, dataDir)).toMatchObject({ schemaVersion: LATEST, missingKeyFiles: [] });
    expect(await entryIds(dataDir)).toEqual(['in-backup']);
  });
});
