import type { PoolConfig } from 'pg';
import { ConfigError } from '../../core/config-values.js';
import { readConfigText } from '../../core/config-file.js';
import type { PostgresSettings } from './config.js';

/** Query parameters through which a connection string sets TLS itself (node-postgres reads them all). */
const TLS_IN_CONNECTION_STRING = /[?&]ssl\w*=/i;

/** node-postgres pool settings from the `datastore:` section, reading the files it names (errors name the setting). */
export function postgresPoolConfig(settings: PostgresSettings): PoolConfig {
  const connectionString = readConnectionString(settings.connection);
  const { tls, pool } = settings;
  // pg lets the connection string's ssl parameters replace `ssl` whole, which would drop tls.caFile silently.
  if (tls && TLS_IN_CONNECTION_STRING.test(connectionString)) {
    throw new ConfigError('datastore.tls', 'the connection string sets TLS too (sslmode, sslrootcert, ...): configure TLS in one place');
  }
  return {
    connectionString,
    max: pool.max,
    idleTimeoutMillis: pool.idleTimeoutMs,
    connectionTimeoutMillis: pool.connectTimeoutMs,
    ...(tls && {
      ssl: {
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(tls.caFile && { ca: readConfigText('datastore.tls.caFile', tls.caFile) }),
        ...(tls.certFile && { cert: readConfigText('datastore.tls.certFile', tls.certFile) }),
        ...(tls.keyFile && { key: readConfigText('datastore.tls.keyFile', tls.keyFile) }),
      },
    }),
  };
}

function readConnectionString(connection: PostgresSettings['connection']): string {
  if ('connectionString' in connection) return checkedUrl('datastore.connectionString', connection.connectionString);
  const key = 'datastore.connectionStringFile';
  const text = readConfigText(key, connection.connectionStringFile).trim();
  if (!text) throw new ConfigError(key, `${connection.connectionStringFile} is empty`);
  return checkedUrl(key, text);
}

/**
 * Only the URL form: pg would take a libpq "host=... password=..." string for a database name, which then
 * shows in error messages. The value itself is never repeated: it holds the password.
 */
function checkedUrl(key: string, value: string): string {
  if (/^postgres(ql)?:\/\//i.test(value) && URL.canParse(value)) return value;
  throw new ConfigError(key, 'expected a URL like postgres://user:password@host:5432/database (percent-encode special characters)');
}
