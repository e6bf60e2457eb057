import pg, { type PoolConfig } from 'pg';
import { MeshidError } from '../../core/errors.js';
import type { AgentBan, DataStore } from './datastore.js';
import { ForwardingDataStore } from './forwarding-store.js';
import { PostgresErrors } from './postgres-errors.js';
import { applyMigrations, DATASTORE_LOCK_SQL, readSchemaVersion } from './postgres-migrations.js';
import { PostgresQueries, type Queryable } from './postgres-queries.js';
import type { Migration } from './schema-version.js';
import { assertNotInsideOwnTransaction, TransactionHandle } from './transaction-handle.js';

/**
 * The server ends a session that holds a transaction open, doing nothing, for this long: a hung or
 * partitioned replica then releases the datastore lock instead of stalling every replica's transactions.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;

export interface PostgresDataStoreOptions {
  /** node-postgres pool settings: connectionString, max, idleTimeoutMillis, connectionTimeoutMillis, ssl. */
  pool: PoolConfig;
  /** Schema migrations to apply; tests override this, everything else uses the built-in list. */
  migrations?: readonly Migration[];
}

/**
 * DataStore on a PostgreSQL database, through a node-postgres pool; several CA processes may share it.
 *
 * Plain method calls are single autocommitted statements on any pooled connection (banAgent, two
 * statements, runs as a transaction). `transaction(fn)` runs on one connection: BEGIN, then the datastore's
 * advisory lock, so transactions of every replica run one at a time, as on SQLite; READ COMMITTED lets each
 * statement after the lock see everything committed before it. Inside fn, use only the `tx` argument.
 *
 * Errors name the server (user@host:port/database), never the password; an unreachable server, a refused
 * login or a TLS failure is UNAVAILABLE, and the pool reconnects by itself once the server is back.
 */
export class PostgresDataStore extends ForwardingDataStore<PostgresQueries> {
  private readonly queries: PostgresQueries;
  /** Calls and transactions under way: close() waits for them, as pg's pool.end() drops queued checkouts. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly errors: PostgresErrors,
  ) {
    super();
    this.queries = new PostgresQueries(pool);
  }

  /** Connects and applies pending migrations; rejects (UNAVAILABLE when unreachable) and closes the pool if either fails. */
  static async open(options: PostgresDataStoreOptions): Promise<PostgresDataStore> {
    const pool = new pg.Pool({ idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS, ...options.pool, keepAlive: true });
    // An idle connection the server closed (restart, failover): the pool drops it, the next query reconnects.
    pool.on('error', () => undefined);
    const errors = errorsFor(options.pool);
    try {
      await lockedTransaction(pool, errors, (client) => errors.run(() => applyMigrations(client, options.migrations)));
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresDataStore(pool, errors);
  }

  /** The database's schema version (0: no meshid schema yet), read without migrating; fails as open does. */
  static async readSchemaVersion(pool: PoolConfig): Promise<number> {
    const errors = errorsFor(pool);
    const client = new pg.Client(pool);
    client.on('error', () => undefined);
    await errors.run(() => client.connect());
    try {
      return await errors.run(() => readSchemaVersion(client));
    } finally {
      await client.end();
    }
  }

  protected async run<T>(op: (q: PostgresQueries) => T | Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    this.assertOpen();
    return this.track(this.errors.run(() => op(this.queries)));
  }

  /** A transaction, so it is ordered with transactions admitting agents: a ban never lands inside one. */
  override banAgent(ban: AgentBan): Promise<void> {
    return this.transaction((tx) => tx.banAgent(ban));
  }

  async transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    this.assertOpen();
    return this.track(
      lockedTransaction(this.pool, this.errors, (client) => {
        const queries = new PostgresQueries(client);
        return new TransactionHandle<PostgresQueries>(this, (op) => this.errors.run(() => op(queries))).runCallback(fn);
      }),
    );
  }

  /** Refuses new calls, waits for those under way, then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.inFlight);
    await this.pool.end();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private assertOpen(): void {
    if (this.closed) throw new MeshidError('FAILED_PRECONDITION', 'datastore is closed', 'datastore_closed');
  }
}

/**
 * BEGIN, the datastore lock, fn, COMMIT on one pooled client; ROLLBACK when anything fails. When the
 * connection breaks meanwhile (the server says why in an 'error' event, e.g. an idle-in-transaction timeout),
 * fn's later queries fail with that reason, and the client is closed instead of going back to the pool.
 */
async function lockedTransaction<T>(pool: pg.Pool, errors: PostgresErrors, fn: (connection: Queryable) => Promise<T>): Promise<T> {
  const client = await errors.run(() => pool.connect());
  let lost: Error | undefined;
  const onError = (err: Error) => (lost ??= err);
  client.on('error', onError);
  const connection: Queryable = { query: (text, values) => (lost ? Promise.reject(lost) : client.query(text, values)) };
  let rolledBack = true;
  try {
    await errors.run(async () => {
      await connection.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      await connection.query(DATASTORE_LOCK_SQL);
    });
    const result = await fn(connection);
    await errors.run(() => connection.query('COMMIT'));
    return result;
  } catch (err) {
    rolledBack = await connection.query('ROLLBACK').then(() => true, () => false);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(lost !== undefined || !rolledBack);
  }
}

/** pg's own reading of the settings (connects nothing), for naming the server and knowing what to scrub. */
function errorsFor(config: PoolConfig): PostgresErrors {
  const parsed = new pg.Client(config);
  const password = typeof parsed.password === 'string' ? parsed.password : '';
  return new PostgresErrors(`${parsed.user ?? ''}@${parsed.host}:${parsed.port}/${parsed.database ?? ''}`, [
    config.connectionString ?? '',
    password,
    encodeURIComponent(password),
  ]);
}
