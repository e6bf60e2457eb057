import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { MeshidError } from '../../core/errors.js';
import { MIGRATIONS, readSchemaVersion } from './sqlite-migrations.js';
import { DATASTORE_FILE, translateSqliteError } from './sqlite.js';

/** Pages per backup step: all of them, so the copy is one read transaction that no write by the CA can restart. */
const ALL_PAGES = 0x7fffffff;

/** The files SQLite keeps beside a database; they belong to that database and are wrong beside any other. */
const SIDECARS = ['-wal', '-shm', '-journal'];

/** Key files of authorities and JWT keys a CA still uses, per table (jwt_keys arrived with schema version 2). */
const KEY_PATHS_IN_USE: Record<string, string> = {
  authorities: "SELECT key_path FROM authorities WHERE key_path IS NOT NULL AND state <> 'retired'",
  jwt_keys: "SELECT key_path FROM jwt_keys WHERE state <> 'retired'",
};

export interface SqliteBackup {
  file: string;
  schemaVersion: number;
  bytes: number;
}

export interface SqliteRestore {
  /** The datastore file written. */
  file: string;
  /** The backup's schema version; the CA migrates an older one at start. */
  schemaVersion: number;
  /** Key files (as the journal names them) that are not in the data dir: the database holds no private keys. */
  missingKeyFiles: string[];
}

/** The schema version of a SQLite datastore file, read without migrating it; undefined when there is no file. */
export function readSqliteSchemaVersion(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return translateSqliteError(() => readSchemaVersion(db), file);
  } finally {
    db.close();
  }
}

/**
 * Online backup of `<dataDir>/meshid.db` to `out` with SQLite's backup API, while the CA may be running (in WAL
 * mode a reader never blocks it). `out` is replaced atomically, mode 0600, one file in rollback-journal mode.
 */
export async function backupSqliteDatastore(dataDir: string, out: string): Promise<SqliteBackup> {
  const file = join(dataDir, DATASTORE_FILE);
  if (!existsSync(file)) {
    throw new MeshidError('FAILED_PRECONDITION', `there is no SQLite datastore at ${file}: check dataDir in the configuration`, 'datastore_missing');
  }
  const source = new Database(file, { readonly: true, fileMustExist: true });
  try {
    translateSqliteError(() => readSchemaVersion(source), file); // a damaged datastore is reported as such
    await writeCopy(source, out);
  } finally {
    source.close();
  }
  return { file: out, schemaVersion: readSqliteSchemaVersion(out) ?? 0, bytes: statSync(out).size };
}

/**
 * Replaces `<dataDir>/meshid.db` with the backup `from`, atomically (the data dir is created if missing).
 * Refuses a file that is not an intact meshid datastore, a schema newer than this meshid's, and a database
 * another process (a running CA) has open.
 */
export async function restoreSqliteDatastore(from: string, dataDir: string): Promise<SqliteRestore> {
  if (!existsSync(from)) throw new MeshidError('NOT_FOUND', `there is no backup file ${from}`, 'datastore_backup_missing');
  const source = new Database(from, { readonly: true, fileMustExist: true });
  try {
    const schemaVersion = checkBackup(source, from);
    const file = join(dataDir, DATASTORE_FILE);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    assertNotInUse(file);
    // A crashed CA's WAL holds pages of the database being replaced: replayed onto the backup, it would corrupt it.
    removeSidecars(file);
    await writeCopy(source, file);
    return { file, schemaVersion, missingKeyFiles: missingKeyFiles(source, dataDir) };
  } finally {
    source.close();
  }
}

/** Copies the database `source` is open on to `dest` through a 0600 temp file beside it, renamed over `dest` once complete. */
async function writeCopy(source: Database.Database, dest: string): Promise<void> {
  const temp = `${dest}.${randomBytes(6).toString('hex')}.tmp`;
  closeSync(openSync(temp, 'wx', 0o600));
  try {
    await source.backup(temp, { progress: () => ALL_PAGES });
    // The copy of a WAL database is in WAL mode too; rollback-journal mode makes it one self-contained file.
    const copy = new Database(temp);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    renameSync(temp, dest);
  } catch (err) {
    removeSidecars(temp);
    unlinkIfPresent(temp);
    throw err;
  }
  const dir = openSync(dirname(dest), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** The backup's schema version, once it is known to be an intact meshid datastore this meshid can run on. */
function checkBackup(db: Database.Database, from: string): number {
  let integrity: unknown;
  let version: number;
  try {
    integrity = db.pragma('quick_check', { simple: true });
    version = readSchemaVersion(db);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB') throw notABackup(from, 'it is not a SQLite database');
    if (code === 'SQLITE_CORRUPT') throw damaged(from, String((err as Error).message));
    throw err;
  }
  if (integrity !== 'ok') throw damaged(from, String(integrity));
  if (version === 0) throw notABackup(from, 'it has no meshid schema');
  const latest = MIGRATIONS.at(-1)!.version;
  if (version > latest) {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `backup ${from} has schema version ${version}, newer than this meshid supports (${latest}): restore it with the meshid release that wrote it, or a newer one`,
      'datastore_schema',
    );
  }
  return version;
}

const notABackup = (from: string, why: string) =>
  new MeshidError('FAILED_PRECONDITION', `${from} is not a meshid datastore backup: ${why}`, 'datastore_backup_invalid');

const damaged = (from: string, detail: string) =>
  new MeshidError('FAILED_PRECONDITION', `backup ${from} is damaged (SQLite quick_check: ${detail}); restore another backup`, 'datastore_corrupt');

/**
 * SQLite grants an exclusive-mode lock on a WAL database only while no other connection has it open, and the
 * CA's connection stays open from its start to its end.
 */
function assertNotInUse(file: string): void {
  if (!existsSync(file)) return;
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new MeshidError('FAILED_PRECONDITION', `${file} is open in another process (is the CA running?): stop the CA, then restore`, 'datastore_in_use');
    }
    // Any other failure: the file is unreadable, which is what a restore is for, and nothing can have it open.
  } finally {
    db.close();
  }
}

function missingKeyFiles(db: Database.Database, dataDir: string): string[] {
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
  return Object.entries(KEY_PATHS_IN_USE)
    .filter(([table]) => tables.has(table))
    .flatMap(([, sql]) => db.prepare(sql).pluck().all() as string[])
    .filter((keyPath) => !existsSync(resolve(dataDir, keyPath)));
}

function removeSidecars(file: string): void {
  for (const suffix of SIDECARS) unlinkIfPresent(`${file}${suffix}`);
}

function unlinkIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
