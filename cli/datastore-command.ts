import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadCaServerConfig, type CaServerConfig } from '../ca-server/config.js';
import type { PostgresSettings } from '../ca-server/datastore/config.js';
import { postgresPoolConfig } from '../ca-server/datastore/postgres-connection.js';
import { POSTGRES_MIGRATIONS } from '../ca-server/datastore/postgres-migrations.js';
import { PostgresDataStore } from '../ca-server/datastore/postgres.js';
import { pendingMigrations, type Migration } from '../ca-server/datastore/schema-version.js';
import { backupSqliteDatastore, readSqliteSchemaVersion, restoreSqliteDatastore } from '../ca-server/datastore/sqlite-backup.js';
import { MIGRATIONS } from '../ca-server/datastore/sqlite-migrations.js';
import { DATASTORE_FILE, SqliteDataStore } from '../ca-server/datastore/sqlite.js';
import { allowOptions, flag, option, requiredOption, UsageError, type Args } from './args.js';

const USAGE = 'usage: meshid datastore backup --out FILE [--force] | restore --from FILE [--force] | migrate [--dry-run] (each with [--config FILE])';

const HELP = `meshid datastore — back up, restore and migrate the CA's datastore

Usage:
  meshid datastore backup --out FILE [--force] [--config FILE]
      SQLite: an online copy of <dataDir>/meshid.db to FILE (mode 0600; --force replaces an existing FILE),
      safe while the CA runs. The database holds no private keys: back up <dataDir>/keys/ and upstream/ too.
      PostgreSQL: prints the pg_dump command to use instead.
  meshid datastore restore --from FILE [--force] [--config FILE]
      SQLite: stop the CA first. Replaces <dataDir>/meshid.db with the backup FILE (--force when a database
      exists there); refuses a database the CA has open and a backup with a schema newer than this meshid's.
      PostgreSQL: prints the pg_restore command to use instead.
  meshid datastore migrate [--dry-run] [--config FILE]
      prints the datastore's schema version, this meshid's and the pending migrations, then applies them
      (--dry-run: changes nothing). The CA applies pending migrations itself when it starts.

--config is the CA's configuration file (dataDir, datastore); MESHID_* variables apply as for meshid server.`;

/** `meshid datastore backup|restore|migrate`: offline work on the datastore the CA's configuration names. */
export async function runDatastoreCommand(verb: string | undefined, args: Args): Promise<number> {
  if (flag(args, 'help')) {
    console.log(HELP);
    return 0;
  }
  switch (verb) {
    case 'backup':
      allowOptions(args, ['config', 'out', 'force', 'help']);
      await backup(loadConfig(args), path.resolve(requiredOption(args, 'out')), flag(args, 'force'));
      return 0;
    case 'restore':
      allowOptions(args, ['config', 'from', 'force', 'help']);
      await restore(loadConfig(args), path.resolve(requiredOption(args, 'from')), flag(args, 'force'));
      return 0;
    case 'migrate':
      allowOptions(args, ['config', 'dry-run', 'help']);
      await migrate(loadConfig(args), flag(args, 'dry-run'));
      return 0;
    default:
      throw new UsageError(USAGE);
  }
}

function loadConfig(args: Args): CaServerConfig {
  return loadCaServerConfig({ file: option(args, 'config'), env: process.env });
}

async function backup(config: CaServerConfig, out: string, force: boolean): Promise<void> {
  if (config.datastore.type === 'postgres') throw new UsageError(pgDumpAdvice(config.datastore, out));
  if (!existsSync(path.dirname(out))) throw new UsageError(`--out: directory ${path.dirname(out)} does not exist`);
  if (existsSync(out) && !force) throw new UsageError(`--out: ${out} exists; pass --force to replace it`);
  const copy = await backupSqliteDatastore(config.dataDir, out);
  console.log(`wrote ${copy.file}: backup of ${path.join(config.dataDir, DATASTORE_FILE)}, schema version ${copy.schemaVersion}, ${copy.bytes} bytes`);
  console.log(`the database holds no private keys: back up the rest of ${config.dataDir} as well (keys/, and upstream/ with the self-signed root), as carefully as the CA itself`);
}

async function restore(config: CaServerConfig, from: string, force: boolean): Promise<void> {
  if (config.datastore.type === 'postgres') throw new UsageError(pgRestoreAdvice(config.datastore, from));
  const file = path.join(config.dataDir, DATASTORE_FILE);
  if (from === file) throw new UsageError(`--from: ${from} is the datastore itself; name a backup file`);
  if (existsSync(file) && !force) throw new UsageError(`${file} exists: stop the CA, then pass --force to replace it with the backup`);
  const restored = await restoreSqliteDatastore(from, config.dataDir);
  console.log(`restored ${from} (schema version ${restored.schemaVersion}) to ${restored.file}`);
  const latest = MIGRATIONS.at(-1)!.version;
  if (restored.schemaVersion < latest) console.log(`the CA migrates it to schema version ${latest} when it starts (or run: meshid datastore migrate)`);
  if (restored.missingKeyFiles.length > 0) {
    const missing = restored.missingKeyFiles.map((keyPath) => path.resolve(config.dataDir, keyPath)).join(', ');
    console.error(
      `warning: the restored database names key files that are not there: ${missing}. ` +
        'Copy keys/ and upstream/ from the backed-up data dir, keeping their modes, before starting the CA: it cannot sign without them',
    );
  }
}

/** A datastore as `migrate` sees it: its schema version, the migrations this meshid has for it, and how the CA applies them. */
interface MigrationTarget {
  /** The SQLite file, or user@host:port/database (never the password). */
  name: string;
  migrations: readonly Migration[];
  schemaVersion(): Promise<number>;
  apply(): Promise<void>;
}

async function migrate(config: CaServerConfig, dryRun: boolean): Promise<void> {
  const target = config.datastore.type === 'postgres' ? postgresTarget(config.datastore) : sqliteTarget(config.dataDir);
  const current = await target.schemaVersion();
  const latest = target.migrations.at(-1)!.version;
  console.log(`datastore: ${target.name}`);
  console.log(`schema version: ${current === 0 ? 'none (empty)' : current}; this meshid's: ${latest}`);
  // Refuses a newer schema with the message the CA starts with.
  const pending = pendingMigrations(target.migrations, target.migrations[0]!.version, current);
  if (pending.length === 0) {
    console.log('up to date: no pending migrations');
    return;
  }
  console.log('pending migrations:');
  for (const m of pending) console.log(`  ${m.version}  ${m.name}`);
  if (dryRun) {
    console.log('dry run: nothing was changed (without --dry-run this applies them; the CA also does when it starts)');
    return;
  }
  await target.apply();
  console.log(`applied ${pending.length} migration${pending.length === 1 ? '' : 's'}: schema version ${await target.schemaVersion()}`);
}

function sqliteTarget(dataDir: string): MigrationTarget {
  const file = path.join(dataDir, DATASTORE_FILE);
  return {
    name: `SQLite ${file}`,
    migrations: MIGRATIONS,
    schemaVersion: async () => readSqliteSchemaVersion(file) ?? 0,
    apply: () => SqliteDataStore.open(dataDir).close(),
  };
}

function postgresTarget(settings: PostgresSettings): MigrationTarget {
  const pool = postgresPoolConfig(settings);
  return {
    name: `PostgreSQL ${serverName(new URL(pool.connectionString!))}`,
    migrations: POSTGRES_MIGRATIONS,
    schemaVersion: () => PostgresDataStore.readSchemaVersion(pool),
    apply: async () => (await PostgresDataStore.open({ pool })).close(),
  };
}

function pgDumpAdvice(settings: PostgresSettings, out: string): string {
  const connection = libpqConnection(settings);
  return [
    `the datastore is PostgreSQL (${serverName(new URL(connection))}): back it up with pg_dump, which takes a consistent snapshot while the CAs run:`,
    `  ${shellCommand(['pg_dump', '--format=custom', '--file', out, connection])}`,
    passwordAdvice('pg_dump'),
  ].join('\n');
}

function pgRestoreAdvice(settings: PostgresSettings, from: string): string {
  const connection = libpqConnection(settings);
  return [
    `the datastore is PostgreSQL (${serverName(new URL(connection))}): stop every CA, restore the pg_dump file with pg_restore, then start them:`,
    `  ${shellCommand(['pg_restore', '--clean', '--if-exists', '--no-owner', '--single-transaction', '--dbname', connection, from])}`,
    passwordAdvice('pg_restore'),
  ].join('\n');
}

const passwordAdvice = (tool: string) =>
  `${tool} asks for the password, which is not shown here; or give it in PGPASSWORD, or in a password file ` +
  '(PGPASSFILE, default ~/.pgpass, mode 0600, lines host:port:database:user:password)';

/** The configured connection as libpq tools take it: without the password, with datastore.tls as libpq parameters. */
function libpqConnection(settings: PostgresSettings): string {
  const url = new URL(postgresPoolConfig(settings).connectionString!);
  url.password = '';
  url.searchParams.delete('password');
  for (const [name, value] of Object.entries(libpqTls(settings.tls))) url.searchParams.set(name, value);
  return url.toString();
}

/** Node verifies the server's name and chain unless told not to: libpq does that with sslmode=verify-full. */
function libpqTls(tls: PostgresSettings['tls']): Record<string, string> {
  if (!tls) return {};
  return {
    sslmode: tls.rejectUnauthorized ? 'verify-full' : 'require',
    ...(tls.rejectUnauthorized && tls.caFile && { sslrootcert: tls.caFile }),
    ...(tls.certFile && { sslcert: tls.certFile }),
    ...(tls.keyFile && { sslkey: tls.keyFile }),
  };
}

const serverName = (url: URL) => `${decodeURIComponent(url.username)}@${url.hostname}:${url.port || 5432}${url.pathname}`;

const shellCommand = (words: string[]) => words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
