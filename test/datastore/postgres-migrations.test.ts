import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDataStore } from '../../ca-server/datastore/postgres.js';
import { POSTGRES_MIGRATIONS } from '../../ca-server/datastore/postgres-migrations.js';
import { MIGRATIONS } from '../../ca-server/datastore/sqlite-migrations.js';
import { startPostgres, type PostgresCluster } from '../peers/postgres.js';
import { describeMigrationContract, SCHEMA_TABLES, type MigrationTarget } from './migration-contract.js';

let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.close();
});

async function query<T>(connectionString: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const versions = async (url: string) =>
  (await query<{ version: number }>(url, 'SELECT version FROM schema_version ORDER BY version')).map((r) => r.version);

describeMigrationContract('PostgreSQL', POSTGRES_MIGRATIONS, async (): Promise<MigrationTarget> => {
  const url = await cluster.createDatabase();
  return {
    open: (migrations) => PostgresDataStore.open({ pool: { connectionString: url, max: 2 }, migrations }),
    versions: () => versions(url),
    tables: async () =>
      (await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map(
        (r) => r.tablename,
      ),
  };
});

describe('PostgreSQL schema', () => {
  it('is at the same schema version as SQLite: a schema change lands in both backends', () => {
    expect(POSTGRES_MIGRATIONS.at(-1)!.version).toBe(MIGRATIONS.at(-1)!.version);
  });

  it('is created once when three replicas start together on an empty database', async () => {
    const url = await cluster.createDatabase();
    const replicas = await Promise.all([1, 2, 3].map(() => PostgresDataStore.open({ pool: { connectionString: url, max: 2 } })));
    await Promise.all(replicas.map((r) => r.close()));
    expect(await versions(url)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
    const tables = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    expect(tables[0]!.n).toBe(SCHEMA_TABLES.length);
  });
});
