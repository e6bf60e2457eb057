import path from 'node:path';
import { bool, ConfigError, durationSeconds, oneOf, positiveInteger, rejectUnknownKeys, section, str } from '../../core/config-values.js';

export interface PostgresSettings {
  type: 'postgres';
  /**
   * The connection string, or the file holding it (read when the datastore opens). It holds the password:
   * never log it (core/redact.ts censors a `connectionString` field).
   */
  connection: { connectionString: string } | { connectionStringFile: string };
  pool: { max: number; idleTimeoutMs: number; connectTimeoutMs: number };
  /** TLS to the server, with these files; undefined: as the connection string says (`sslmode`), else none. */
  tls: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean } | undefined;
}

/** The CA's `datastore:` section: SQLite in dataDir (one CA process), or PostgreSQL (shared by replicas). */
export type DatastoreConfig = { type: 'sqlite' } | PostgresSettings;

const DATASTORE_DEFAULTS = {
  type: 'sqlite',
  pool: { max: 10, idleTimeout: '30s', connectTimeout: '5s' },
  tls: { rejectUnauthorized: true },
} as const;

const KEYS = ['type', 'connectionString', 'connectionStringFile', 'pool', 'tls'];

export function readDatastoreConfig(raw: Record<string, unknown>): DatastoreConfig {
  rejectUnknownKeys('datastore', raw, KEYS);
  const type = oneOf('datastore.type', raw.type ?? DATASTORE_DEFAULTS.type, ['sqlite', 'postgres']);
  if (type === 'sqlite') {
    const postgresOnly = Object.keys(raw).find((key) => key !== 'type');
    if (postgresOnly) {
      const why = 'is a PostgreSQL setting; set datastore.type: postgres (the SQLite datastore lives in dataDir)';
      throw new ConfigError(`datastore.${postgresOnly}`, why);
    }
    return { type };
  }
  return { type, connection: readConnection(raw), pool: readPool(section('datastore.pool', raw.pool)), tls: readTls(raw.tls) };
}

function readConnection(raw: Record<string, unknown>): PostgresSettings['connection'] {
  const inline = raw.connectionString === undefined ? '' : str('datastore.connectionString', raw.connectionString);
  const file = raw.connectionStringFile === undefined ? '' : str('datastore.connectionStringFile', raw.connectionStringFile);
  if (inline && file) {
    throw new ConfigError('datastore.connectionStringFile', 'set either datastore.connectionString or datastore.connectionStringFile, not both');
  }
  if (file) return { connectionStringFile: path.resolve(file) };
  if (inline) return { connectionString: inline };
  throw new ConfigError(
    'datastore.connectionString',
    'datastore.type postgres needs datastore.connectionStringFile (a file holding "postgres://user:password@host:5432/database") or datastore.connectionString',
  );
}

function readPool(pool: Record<string, unknown>): PostgresSettings['pool'] {
  rejectUnknownKeys('datastore.pool', pool, ['max', 'idleTimeout', 'connectTimeout']);
  const d = DATASTORE_DEFAULTS.pool;
  return {
    max: positiveInteger('datastore.pool.max', pool.max ?? d.max),
    idleTimeoutMs: positiveMs('datastore.pool.idleTimeout', pool.idleTimeout ?? d.idleTimeout),
    connectTimeoutMs: positiveMs('datastore.pool.connectTimeout', pool.connectTimeout ?? d.connectTimeout),
  };
}

function readTls(value: unknown): PostgresSettings['tls'] {
  if (value === undefined) return undefined;
  const tls = section('datastore.tls', value);
  rejectUnknownKeys('datastore.tls', tls, ['caFile', 'certFile', 'keyFile', 'rejectUnauthorized']);
  const file = (key: string) => (tls[key] === undefined ? undefined : path.resolve(str(`datastore.tls.${key}`, tls[key])));
  const [caFile, certFile, keyFile] = [file('caFile'), file('certFile'), file('keyFile')];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile ? 'datastore.tls.keyFile' : 'datastore.tls.certFile';
    throw new ConfigError(missing, 'a client certificate needs both datastore.tls.certFile and datastore.tls.keyFile');
  }
  return {
    ...(caFile && { caFile }),
    ...(certFile && { certFile, keyFile }),
    rejectUnauthorized: bool('datastore.tls.rejectUnauthorized', tls.rejectUnauthorized ?? DATASTORE_DEFAULTS.tls.rejectUnauthorized),
  };
}

function positiveMs(key: string, value: unknown): number {
  const seconds = durationSeconds(key, value);
  if (seconds <= 0) throw new ConfigError(key, 'must be greater than zero');
  return Math.round(seconds * 1000);
}
