import { AsyncLocalStorage } from 'node:async_hooks';
import { MeshidError } from '../../core/errors.js';
import type { DataStore } from './datastore.js';
import { ForwardingDataStore, type BackendQueries } from './forwarding-store.js';

/** The `tx` handed to a transaction callback: runs queries on the connection the transaction is open on. */
export class TransactionHandle<Q extends BackendQueries> extends ForwardingDataStore<Q> {
  private finished = false;

  constructor(
    /** The store the transaction belongs to. */
    readonly owner: DataStore,
    private readonly execute: <T>(op: (q: Q) => T | Promise<T>) => Promise<T>,
  ) {
    super();
  }

  protected async run<T>(op: (q: Q) => T | Promise<T>): Promise<T> {
    if (this.finished) {
      throw new MeshidError('INTERNAL', 'datastore transaction already finished; its handle cannot be used any more');
    }
    return this.execute(op);
  }

  /** Nested transactions join the enclosing one: everything commits or rolls back together. */
  transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async close(): Promise<void> {
    throw new MeshidError('INTERNAL', 'close the datastore, not a transaction handle');
  }

  /** Runs the callback with this handle; once it settles the handle refuses every call. */
  async runCallback<T>(fn: (tx: DataStore) => Promise<T>): Promise<T> {
    try {
      return await currentTransaction.run(this, () => fn(this));
    } finally {
      this.finished = true;
    }
  }

  get open(): boolean {
    return !this.finished;
  }
}

const currentTransaction = new AsyncLocalStorage<TransactionHandle<BackendQueries>>();

/**
 * Inside a transaction callback only its `tx` may be used: the store itself would wait for the transaction
 * it is called from (SQLite's lock, PostgreSQL's transaction lock or a locked row), so that fails fast.
 */
export function assertNotInsideOwnTransaction(store: DataStore): void {
  const tx = currentTransaction.getStore();
  if (tx && tx.owner === store && tx.open) {
    throw new MeshidError(
      'INTERNAL',
      'datastore used directly inside its own transaction (would deadlock); use the tx passed to the callback',
    );
  }
}
