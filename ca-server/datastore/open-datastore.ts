import type { DatastoreConfig } from './config.js';
import type { DataStore } from './datastore.js';
import { postgresPoolConfig } from './postgres-connection.js';
import { PostgresDataStore } from './postgres.js';
import { SqliteDataStore } from './sqlite.js';

/** The datastore the configuration selects, opened and migrated: SQLite in dataDir (the default) or PostgreSQL. */
export async function openDataStore(config: { dataDir: string; datastore: DatastoreConfig }): Promise<DataStore> {
  const { datastore } = config;
  return datastore.type === 'postgres' ? PostgresDataStore.open({ pool: postgresPoolConfig(datastore) }) : SqliteDataStore.open(config.dataDir);
}
