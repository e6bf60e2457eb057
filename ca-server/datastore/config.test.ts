import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-values.js';
import { loadCaServerConfig, readCaServerConfig } from '../config.js';
import type { PostgresSettings } from './config.js';
import { openDataStore } from './open-datastore.js';
import { postgresPoolConfig } from './postgres-connection.js';
import { SqliteDataStore } from './sqlite.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-ds-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const URL = 'postgres://meshid:s3cret@db.example:5432/meshid';
const datastore = (value: unknown) => readCaServerConfig({ dataDir: dir, datastore: value }).datastore;
const postgres = (value: object) => datastore({ type: 'postgres', ...value }) as PostgresSettings;

function configError(run: () => unknown): { key: string; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return { key: err.key, message: err.message };
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function file(name: string, text: string): string {
  const target = path.join(dir, name);
  writeFileSync(target, text, { mode: 0o600 });
  return target;
}

describe('datastore config', () => {
  it('is SQLite in dataDir by default, and openDataStore opens that', async () => {
    const config = readCaServerConfig({ dataDir: dir });
    expect(config.datastore).toEqual({ type: 'sqlite' });
    const store = await openDataStore(config);
    expect(store).toBeInstanceOf(SqliteDataStore);
    expect((store as SqliteDataStore).file).toBe(path.join(dir, 'meshid.db'));
    await store.close();
  });

  it('reads PostgreSQL settings with their defaults, from YAML, env or flags', () => {
    expect(postgres({ connectionString: URL })).toEqual({
      type: 'postgres',
      connection: { connectionString: URL },
      pool: { max: 10, idleTimeoutMs: 30_000, connectTimeoutMs: 5000 },
      tls: undefined,
    });
    const config = loadCaServerConfig({
      env: { MESHID_DATASTORE__TYPE: 'postgres', MESHID_DATASTORE__CONNECTION_STRING_FILE: 'pg.url', MESHID_DATASTORE__POOL__MAX: '4' },
      flags: { 'datastore.pool.idleTimeout': '2m', 'datastore.tls.rejectUnauthorized': 'false' },
    });
    expect(config.datastore).toEqual({
      type: 'postgres',
      connection: { connectionStringFile: path.resolve('pg.url') },
      pool: { max: 4, idleTimeoutMs: 120_000, connectTimeoutMs: 5000 },
      tls: { rejectUnauthorized: false },
    });
    expect(postgres({ connectionString: URL, tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' } }).tls).toEqual({
      caFile: path.resolve('ca.pem'),
      certFile: path.resolve('c.pem'),
      keyFile: path.resolve('k.pem'),
      rejectUnauthorized: true,
    });
  });

  it.each([
    [{ type: 'mysql' }, 'datastore.type', /expected one of sqlite, postgres/],
    [{ type: 'postgres' }, 'datastore.connectionString', /needs datastore\.connectionStringFile .* or datastore\.connectionString/],
    [{ type: 'postgres', connectionString: URL, connectionStringFile: 'x' }, 'datastore.connectionStringFile', /not both/],
    [{ connectionString: URL }, 'datastore.connectionString', /is a PostgreSQL setting; set datastore\.type: postgres/],
    [{ type: 'postgres', connectionString: URL, poolSize: 3 }, 'datastore.poolSize', /unknown setting \(known: type, connectionString, connectionStringFile, pool, tls\)/],
    [{ type: 'postgres', connectionString: URL, pool: { min: 1 } }, 'datastore.pool.min', /unknown setting \(known: max, idleTimeout, connectTimeout\)/],
    [{ type: 'postgres', connectionString: URL, pool: { max: 0 } }, 'datastore.pool.max', /at least 1/],
    [{ type: 'postgres', connectionString: URL, pool: { idleTimeout: '0s' } }, 'datastore.pool.idleTimeout', /greater than zero/],
    [{ type: 'postgres', connectionString: URL, tls: { ca: 'x' } }, 'datastore.tls.ca', /unknown setting \(known: caFile, certFile, keyFile, rejectUnauthorized\)/],
    [{ type: 'postgres', connectionString: URL, tls: { certFile: 'c.pem' } }, 'datastore.tls.keyFile', /needs both/],
    [{ type: 'postgres', connectionString: URL, tls: { rejectUnauthorized: 'no' } }, 'datastore.tls.rejectUnauthorized', /expected true or false/],
  ])('refuses %j, naming %s', (value, key, message) => {
    const err = configError(() => datastore(value));
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('s3cret');
  });
});

describe('postgresPoolConfig', () => {
  it('reads the connection string from its file (trimmed) and the TLS files', () => {
    const settings = postgres({
      connectionStringFile: file('pg.url', `${URL}\n`),
      pool: { max: 3, connectTimeout: '2s' },
      tls: { caFile: file('ca.pem', 'CA'), certFile: file('cert.pem', 'CERT'), keyFile: file('key.pem', 'KEY') },
    });
    expect(postgresPoolConfig(settings)).toEqual({
      connectionString: URL,
      max: 3,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 2000,
      ssl: { rejectUnauthorized: true, ca: 'CA', cert: 'CERT', key: 'KEY' },
    });
    expect(postgresPoolConfig(postgres({ connectionString: URL }))).not.toHaveProperty('ssl');
  });

  it('names the setting whose file cannot be read or is empty', () => {
    const missing = path.join(dir, 'missing.url');
    expect(configError(() => postgresPoolConfig(postgres({ connectionStringFile: missing })))).toEqual({
      key: 'datastore.connectionStringFile',
      message: `config datastore.connectionStringFile: cannot read ${missing}: ENOENT`,
    });
    const empty = file('empty.url', '\n');
    expect(configError(() => postgresPoolConfig(postgres({ connectionStringFile: empty }))).message).toMatch(/is empty/);
    const noCa = path.join(dir, 'no-ca.pem');
    expect(configError(() => postgresPoolConfig(postgres({ connectionString: URL, tls: { caFile: noCa } }))).key).toBe('datastore.tls.caFile');
  });

  it.each(['host=db user=meshid password=s3cret', 'postgres://meshid:s3cret@db:port/meshid', 'mysql://meshid:s3cret@db/meshid'])(
    'refuses a connection string that is not a postgres:// URL, without repeating it: %s',
    (connectionString) => {
      const err = configError(() => postgresPoolConfig(postgres({ connectionString })));
      expect(err).toEqual({ key: 'datastore.connectionString', message: expect.stringMatching(/expected a URL like postgres:\/\/user:password@host/) });
      expect(err.message).not.toContain('s3cret');
      const fromFile = configError(() => postgresPoolConfig(postgres({ connectionStringFile: file('bad.url', connectionString) })));
      expect(fromFile.key).toBe('datastore.connectionStringFile');
    },
  );

  it('refuses TLS set both in datastore.tls and in the connection string', () => {
    const err = configError(() => postgresPoolConfig(postgres({ connectionString: `${URL}?sslmode=require`, tls: {} })));
    expect(err).toEqual({ key: 'datastore.tls', message: expect.stringMatching(/sets TLS too .*configure TLS in one place/) });
    expect(err.message).not.toContain('s3cret');
    expect(postgresPoolConfig(postgres({ connectionString: `${URL}?sslmode=verify-full` })).connectionString).toBe(`${URL}?sslmode=verify-full`);
  });
});
