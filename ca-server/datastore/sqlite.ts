import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MeshidError } from '../../core/errors.js';
import type { DataStore } from './datastore.js';
import { ForwardingDataStore } from './forwarding-store.js';
import { AsyncMutex } from './mutex.js';
import type { Migration } from './schema-version.js';
import { migrate } from './sqlite-migrations.js';
import { SqliteQueries } from './sqlite-queries.js';
import { assertNotInsideOwnTransaction, TransactionHandle } from './transaction-handle.js';

/** File name of the database inside the data dir. */
export const DATASTORE_FILE = 'meshid.db';

export interface SqliteDataStoreOptions {
  /** How long a write waits for another connection's lock before failing with UNAVAILABLE (default 5000). */
  busyTimeoutMs?: number;
  /** Schema migrations to apply; tests override this, everything else uses the built-in list. */
  migrations?: readonly Migration[];
}

/**
 * DataStore on one better-sqlite3 connection (WAL, synchronous=FULL so a consumed join token stays consumed
 * across power loss).
 *
 * Transactions: better-sqlite3 is synchronous, but `transaction(fn)` takes an async callback, so the
 * connection runs BEGIN IMMEDIATE, awaits fn, then COMMIT (or ROLLBACK if fn throws). While fn is pending,
 * an in-process mutex holds back every other caller of this store, including plain method calls, so no
 * statement from an unrelated await can land inside the open transaction. Inside fn, use only the `tx`
 * argument: calling the store itself there would wait for its own lock, so it throws instead.
 *
 * Other connections (another SqliteDataStore on the same file, another process) are serialised by SQLite:
 * their writes wait up to busyTimeoutMs for an open transaction. That wait is synchronous, so keep a single
 * store per process and keep transactions short.
 */
export class SqliteDataStore extends ForwardingDataStore<SqliteQueries> {
  private readonly lock = new AsyncMutex();
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly queries: SqliteQueries,
    /** Database file path; undefined for `:memory:`. */
    readonly file: string | undefined,
  ) {
    super();
  }

  /**
   * Opens (creating if needed) `<dataDir>/meshid.db` with mode 0600, the data dir 0700 if it is created,
   * and applies pending migrations. `':memory:'` gives a private in-memory database for tests.
   */
  static open(dataDir: string, options: SqliteDataStoreOptions = {}): SqliteDataStore {
    const file = dataDir === ':memory:' ? undefined : join(dataDir, DATASTORE_FILE);
    if (file) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
    const db = new Database(file ?? ':memory:', { timeout: options.busyTimeoutMs ?? 5000 });
    try {
      translateSqliteError(() => {
        if (file) {
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = FULL');
        }
        migrate(db, options.migrations);
      }, file);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteDataStore(db, new SqliteQueries(db), file);
  }

  protected async run<T>(op: (q: SqliteQueries) => T | Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    return this.lock.run(() => {
      this.assertOpen();
      return translateSqliteError(() => op(this.queries), this.file);
    });
  }

  async transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    return this.lock.run(async () => {
      this.assertOpen();
      const tx = new TransactionHandle<SqliteQueries>(this, async (op) => translateSqliteError(() => op(this.queries)));
      translateSqliteError(() => this.db.exec('BEGIN IMMEDIATE'), this.file);
      try {
        const result = await tx.runCallback(fn);
        translateSqliteError(() => this.db.exec('COMMIT'), this.file);
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  /** Waits for queued work, then closes the connection; later calls fail with FAILED_PRECONDITION. */
  async close(): Promise<void> {
    await this.lock.run(() => {
      if (this.closed) return;
      this.closed = true;
      this.db.close();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new MeshidError('FAILED_PRECONDITION', 'datastore is closed', 'datastore_closed');
  }
}

/** Turns the SQLite errors an operator can act on into MeshidErrors. */
export function translateSqliteError<T>(op: () => T, file?: string): T {
  try {
    return op();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const where = file ? ` (${file})` : '';
    if (code === 'SQLITE_BUSY') {
      throw new MeshidError('UNAVAILABLE', `datastore is locked by another connection${where}; retry`, 'datastore_busy');
    }
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new MeshidError(
        'FAILED_PRECONDITION',
        `datastore file is not a valid SQLite database${where}; restore it from a backup`,
        'datastore_corrupt',
      );
    }
    throw err;
  }
}
