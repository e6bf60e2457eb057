import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../ca-server/datastore/postgres-migrations.js';
import { PostgresDataStore } from '../../ca-server/datastore/postgres.js';
import { MIGRATIONS, migrate } from '../../ca-server/datastore/sqlite-migrations.js';
import { DATASTORE_FILE } from '../../ca-server/datastore/sqlite.js';
import { CaFixture, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { entry } from '../datastore/fixtures.js';
import { requirePeer } from '../peers/peers.js';
import { startPostgres, type PostgresCluster } from '../peers/postgres.js';

/** `meshid datastore backup|restore|migrate`: the built CLI, spawned for real on SQLite files and a real PostgreSQL. */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LATEST = MIGRATIONS.at(-1)!.version;

let work: string;
let cli: string;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: work, env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const meshid = (...args: string[]) => run(process.execPath, [cli, 'datastore', ...args]);

/** A CA configuration file (JSON is YAML) in its own directory. */
async function configFile(config: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'config-'));
  const file = path.join(dir, 'meshid.yaml');
  await writeFile(file, JSON.stringify(config));
  return file;
}

function schemaVersions(dataDir: string): number[] {
  const db = new Database(path.join(dataDir, DATASTORE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all() as number[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'meshid-datastore-cli-'));
  // The CLI users run, compiled into a build of this suite's own (inside the checkout, for node_modules) so
  // the other suites' builds never change it under a running test. Type errors are the typecheck's business.
  const outDir = await mkdtemp(path.join(REPO, '.cache', 'datastore-cli-build-'));
  cli = path.join(outDir, 'cli/meshid.js');
  await new Promise<void>((resolve) =>
    execFile(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: REPO }, () => resolve()),
  );
  if (!existsSync(cli)) throw new Error(`tsc -p tsconfig.build.json emitted no ${cli}`);
});

afterAll(async () => {
  if (cli) await rm(path.resolve(path.dirname(cli), '..'), { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

// Each CLI run is a fresh Node process (about 1 s on a busy 2-core machine); some tests make several.
describe('meshid datastore backup / restore (SQLite)', { timeout: 90_000 }, () => {
  let ca: CaFixture;
  let caConfig: string;
  let tokenId: string;
  let entryId: string;

  beforeAll(async () => {
    ca = await CaFixture.start({ kubernetes: 'disabled' });
    caConfig = await configFile({ dataDir: ca.config.dataDir });
    const admin = ca.adminClient();
    tokenId = (await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 3600 })).token!.id;
    entryId = (await createEntry(ca, 'billing')).id;
    admin.close();
  });

  afterAll(async () => {
    await ca?.close();
  });

  async function createEntry(target: CaFixture, name: string) {
    const admin = target.adminClient();
    try {
      return await rpc(admin, admin.CreateEntry, {
        spiffe_id: `spiffe://${TRUST_DOMAIN}/vm/${name}`,
        parent_id: `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a`,
        selectors: ['unix:uid:1000'],
        ttl_seconds: 0,
        dns_names: [],
      });
    } finally {
      admin.close();
    }
  }

  async function listed(target: CaFixture): Promise<{ entries: string[]; tokens: string[] }> {
    const admin = target.adminClient();
    try {
      const entries = (await rpc(admin, admin.ListEntries, {})).entries.map((e) => e.id);
      const tokens = (await rpc(admin, admin.ListJoinTokens, {})).tokens.map((t) => t.id);
      return { entries, tokens };
    } finally {
      admin.close();
    }
  }

  it('backs up the running CA; a CA started on the restore (keys/ and upstream/ copied) has its token, entry, root and trust bundle', async () => {
    const out = path.join(work, 'online.db');
    // The CA keeps writing while the backup runs.
    const [backup, ...written] = await Promise.all([meshid('backup', '--config', caConfig, '--out', out), ...[1, 2, 3, 4, 5].map((i) => createEntry(ca, `during-${i}`))]);
    expect(backup).toMatchObject({ code: 0, stderr: '' });
    expect(written).toHaveLength(5);
    const dbFile = path.join(ca.config.dataDir, DATASTORE_FILE);
    expect(backup.stdout).toMatch(new RegExp(`^wrote ${out}: backup of ${dbFile}, schema version ${LATEST}, \\d+ bytes$`, 'm'));
    expect(backup.stdout).toContain(`the database holds no private keys: back up the rest of ${ca.config.dataDir} as well (keys/, and upstream/ with the self-signed root)`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const after = (await createEntry(ca, 'after-backup')).id;

    const dataDir = path.join(work, 'restored');
    const restored = await meshid('restore', '--config', await configFile({ dataDir }), '--from', out);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toBe(`restored ${out} (schema version ${LATEST}) to ${path.join(dataDir, DATASTORE_FILE)}\n`);
    expect(restored.stderr).toMatch(new RegExp(`^warning: the restored database names key files that are not there: ${dataDir}/keys/\\S+\\.pem`));
    expect(restored.stderr).toContain('Copy keys/ and upstream/ from the backed-up data dir, keeping their modes, before starting the CA: it cannot sign without them');
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    for (const keys of ['keys', 'upstream']) await cp(path.join(ca.config.dataDir, keys), path.join(dataDir, keys), { recursive: true });
    const rootCert = path.join('upstream', 'self-signed', 'root-cert.pem');

    const again = await CaFixture.start({ kubernetes: 'disabled', dataDir });
    try {
      const { entries, tokens } = await listed(again);
      expect(entries).toContain(entryId);
      expect(entries).not.toContain(after);
      expect(tokens).toEqual([tokenId]);
      expect(again.bundlePem()).toBe(ca.bundlePem());
      expect(await readFile(path.join(dataDir, rootCert), 'utf8')).toBe(await readFile(path.join(ca.config.dataDir, rootCert), 'utf8'));
    } finally {
      await again.close();
    }
  });

  it('refuses to replace an existing backup file unless --force', async () => {
    const out = path.join(work, 'existing.db');
    await writeFile(out, 'keep me');
    const refused = await meshid('backup', '--config', caConfig, '--out', out);
    expect(refused).toEqual({ code: 2, stdout: '', stderr: `meshid: --out: ${out} exists; pass --force to replace it\n` });
    expect(await readFile(out, 'utf8')).toBe('keep me');
    expect(await meshid('backup', '--config', caConfig, '--out', out, '--force')).toMatchObject({ code: 0, stderr: '' });
    expect((await readFile(out)).subarray(0, 15).toString()).toBe('SQLite format 3');
  });

  it('refuses to restore over the database of a running CA, even with --force, and over any database without --force', async () => {
    const out = path.join(work, 'for-running.db');
    expect(await meshid('backup', '--config', caConfig, '--out', out)).toMatchObject({ code: 0 });
    const file = path.join(ca.config.dataDir, DATASTORE_FILE);
    const noForce = await meshid('restore', '--config', caConfig, '--from', out);
    expect(noForce).toEqual({ code: 2, stdout: '', stderr: `meshid: ${file} exists: stop the CA, then pass --force to replace it with the backup\n` });
    const running = await meshid('restore', '--config', caConfig, '--from', out, '--force');
    expect(running).toEqual({ code: 2, stdout: '', stderr: `meshid: ${file} is open in another process (is the CA running?): stop the CA, then restore\n` });
    const created = (await createEntry(ca, 'still-running')).id;
    expect((await listed(ca)).entries).toContain(created);
  });

  it('refuses a backup with a schema newer than this meshid, and a file that is not a meshid backup', async () => {
    const newer = path.join(work, 'newer.db');
    expect(await meshid('backup', '--config', caConfig, '--out', newer)).toMatchObject({ code: 0 });
    const db = new Database(newer);
    db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST + 1, 'from the future', Date.now());
    db.close();
    const dataDir = path.join(work, 'not-restored');
    const config = await configFile({ dataDir });
    expect(await meshid('restore', '--config', config, '--from', newer)).toEqual({
      code: 2,
      stdout: '',
      stderr: `meshid: backup ${newer} has schema version ${LATEST + 1}, newer than this meshid supports (${LATEST}): restore it with the meshid release that wrote it, or a newer one\n`,
    });

    const text = path.join(work, 'notes.txt');
    await writeFile(text, 'not a database, but long enough for SQLite to read a header from it: '.repeat(4));
    expect(await meshid('restore', '--config', config, '--from', text)).toEqual({
      code: 2,
      stdout: '',
      stderr: `meshid: ${text} is not a meshid datastore backup: it is not a SQLite database\n`,
    });
    expect(existsSync(path.join(dataDir, DATASTORE_FILE))).toBe(false);
  });
});

describe('meshid datastore migrate (SQLite)', { timeout: 60_000 }, () => {
  /** A data dir whose database has the first `version` migrations, as an older meshid left it. */
  async function dataDirAt(version: number): Promise<{ dataDir: string; config: string }> {
    const dataDir = await mkdtemp(path.join(work, 'schema-'));
    const db = new Database(path.join(dataDir, DATASTORE_FILE));
    migrate(db, MIGRATIONS.slice(0, version));
    db.close();
    return { dataDir, config: await configFile({ dataDir }) };
  }

  it('--dry-run on a schema-2 database lists the pending migrations and changes nothing; without it applies them', async () => {
    const { dataDir, config } = await dataDirAt(2);
    const file = path.join(dataDir, DATASTORE_FILE);
    const before = await readFile(file);
    const header = [`datastore: SQLite ${file}`, `schema version: 2; this meshid's: ${LATEST}`, 'pending migrations:', ...MIGRATIONS.slice(2).map((m) => `  ${m.version}  ${m.name}`)];
    const pending = MIGRATIONS.length - 2;

    const dryRun = await meshid('migrate', '--config', config, '--dry-run');
    expect(dryRun).toEqual({
      code: 0,
      stdout: [...header, 'dry run: nothing was changed (without --dry-run this applies them; the CA also does when it starts)', ''].join('\n'),
      stderr: '',
    });
    expect(schemaVersions(dataDir)).toEqual([1, 2]);
    expect((await readFile(file)).equals(before)).toBe(true);

    const applied = await meshid('migrate', '--config', config);
    expect(applied).toEqual({
      code: 0,
      stdout: [...header, `applied ${pending} migration${pending === 1 ? '' : 's'}: schema version ${LATEST}`, ''].join('\n'),
      stderr: '',
    });
    expect(schemaVersions(dataDir)).toEqual(MIGRATIONS.map((m) => m.version));

    const again = await meshid('migrate', '--config', config, '--dry-run');
    expect(again.stdout).toBe([`datastore: SQLite ${file}`, `schema version: ${LATEST}; this meshid's: ${LATEST}`, 'up to date: no pending migrations', ''].join('\n'));
  });

  it('restore takes a backup of an older schema and says the CA migrates it', async () => {
    const old = await dataDirAt(2);
    const dataDir = path.join(work, 'restored-old');
    const res = await meshid('restore', '--config', await configFile({ dataDir }), '--from', path.join(old.dataDir, DATASTORE_FILE));
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toContain(`(schema version 2) to ${path.join(dataDir, DATASTORE_FILE)}\nthe CA migrates it to schema version ${LATEST} when it starts (or run: meshid datastore migrate)\n`);
    expect(schemaVersions(dataDir)).toEqual([1, 2]);
  });

  it('refuses a schema newer than this meshid with the message the CA starts with', async () => {
    const { dataDir, config } = await dataDirAt(LATEST);
    const db = new Database(path.join(dataDir, DATASTORE_FILE));
    db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST + 1, 'from the future', Date.now());
    db.close();
    const res = await meshid('migrate', '--config', config);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`meshid: datastore schema version ${LATEST + 1} is newer than this meshid supports (${LATEST}); upgrade meshid or restore a backup\n`);
    expect(schemaVersions(dataDir)).toEqual([...MIGRATIONS.map((m) => m.version), LATEST + 1]);
  });
});

describe('meshid datastore on PostgreSQL', { timeout: 90_000 }, () => {
  let cluster: PostgresCluster;
  /** pg_dump and pg_restore from the same Debian package as the provisioned server. */
  let pgBin: string;

  beforeAll(async () => {
    cluster = await startPostgres();
    pgBin = path.dirname(realpathSync(requirePeer('postgres')));
  });
  afterAll(async () => {
    await cluster?.close();
  });

  /** A configuration naming the database through a connection string file, the way the README recommends. */
  async function postgresConfig(connectionString: string, extra: Record<string, unknown> = {}): Promise<string> {
    const dir = await mkdtemp(path.join(work, 'pg-'));
    const file = path.join(dir, 'connection');
    await writeFile(file, connectionString, { mode: 0o600 });
    return configFile({ datastore: { type: 'postgres', connectionStringFile: file, ...extra } });
  }

  const databaseName = (connectionString: string) => new URL(connectionString).pathname.slice(1);

  /** The command the CLI printed on its own line, run as printed (the password from PGPASSWORD). */
  async function runPrinted(stderr: string, tool: string): Promise<CliResult> {
    const line = stderr.split('\n').find((l) => l.startsWith(`  ${tool} `));
    expect(line, stderr).toBeDefined();
    return run('sh', ['-c', line!.trim()], { ...process.env, PATH: `${pgBin}:${process.env.PATH}`, PGPASSWORD: cluster.password });
  }

  it('backup and restore print the pg_dump and pg_restore commands, without the password, and those commands restore the datastore', async () => {
    const source = await cluster.createDatabase();
    const store = await PostgresDataStore.open({ pool: { connectionString: source } });
    await store.createEntry(entry('e-billing', `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a`));
    await store.close();

    const dump = path.join(work, 'meshid.dump');
    const backup = await meshid('backup', '--config', await postgresConfig(source), '--out', dump);
    const server = `meshid@${cluster.host}:${cluster.port}`;
    expect(backup).toEqual({
      code: 2,
      stdout: '',
      stderr: [
        `meshid: the datastore is PostgreSQL (${server}/${databaseName(source)}): back it up with pg_dump, which takes a consistent snapshot while the CAs run:`,
        `  pg_dump --format=custom --file ${dump} postgres://${server}/${databaseName(source)}`,
        'pg_dump asks for the password, which is not shown here; or give it in PGPASSWORD, or in a password file (PGPASSFILE, default ~/.pgpass, mode 0600, lines host:port:database:user:password)',
        '',
      ].join('\n'),
    });
    expect(await runPrinted(backup.stderr, 'pg_dump')).toMatchObject({ code: 0, stderr: '' });

    const target = await cluster.createDatabase();
    const restore = await meshid('restore', '--config', await postgresConfig(target), '--from', dump);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain(`meshid: the datastore is PostgreSQL (${server}/${databaseName(target)}): stop every CA, restore the pg_dump file with pg_restore, then start them:\n`);
    expect(restore.stderr).toContain(`\n  pg_restore --clean --if-exists --no-owner --single-transaction --dbname postgres://${server}/${databaseName(target)} ${dump}\n`);
    expect(backup.stderr + restore.stderr).not.toContain(cluster.password);
    expect(await runPrinted(restore.stderr, 'pg_restore')).toMatchObject({ code: 0, stderr: '' });

    expect(await entryIds(target)).toEqual(['e-billing']);

    // Over the database it came from, changed since: --clean replaces the schema whole.
    const changed = await PostgresDataStore.open({ pool: { connectionString: source } });
    await changed.deleteEntry('e-billing');
    await changed.createEntry(entry('e-later', `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a`));
    await changed.close();
    const back = await meshid('restore', '--config', await postgresConfig(source), '--from', dump);
    expect(await runPrinted(back.stderr, 'pg_restore')).toMatchObject({ code: 0, stderr: '' });
    expect(await entryIds(source)).toEqual(['e-billing']);
  });

  async function entryIds(connectionString: string): Promise<string[]> {
    const store = await PostgresDataStore.open({ pool: { connectionString } });
    try {
      return (await store.listEntries()).map((e) => e.id);
    } finally {
      await store.close();
    }
  }

  it('the commands carry datastore.tls over as libpq parameters', async () => {
    const caFile = path.join(work, 'pg-ca.pem');
    await writeFile(caFile, 'a CA certificate');
    const config = await postgresConfig(await cluster.createDatabase(), { tls: { caFile } });
    const res = await meshid('backup', '--config', config, '--out', path.join(work, 'tls.dump'));
    expect(res.stderr).toMatch(/ 'postgres:\/\/meshid@[^?']+\?sslmode=verify-full&sslrootcert=([^&']+)'\n/);
    expect(decodeURIComponent(/sslrootcert=([^&']+)/.exec(res.stderr)![1]!)).toBe(caFile);
  });

  it('migrate --dry-run on an empty database lists the pending migration and creates nothing; migrate applies it', async () => {
    const connectionString = await cluster.createDatabase();
    const config = await postgresConfig(connectionString);
    const latest = POSTGRES_MIGRATIONS.at(-1)!.version;
    const header = [
      `datastore: PostgreSQL meshid@${cluster.host}:${cluster.port}/${databaseName(connectionString)}`,
      `schema version: none (empty); this meshid's: ${latest}`,
      'pending migrations:',
      ...POSTGRES_MIGRATIONS.map((m) => `  ${m.version}  ${m.name}`),
    ];
    const dryRun = await meshid('migrate', '--config', config, '--dry-run');
    expect(dryRun).toEqual({
      code: 0,
      stdout: [...header, 'dry run: nothing was changed (without --dry-run this applies them; the CA also does when it starts)', ''].join('\n'),
      stderr: '',
    });
    expect(await tableCount(connectionString)).toBe(0);

    const applied = await meshid('migrate', '--config', config);
    const count = POSTGRES_MIGRATIONS.length;
    expect(applied.stdout).toBe([...header, `applied ${count} migration${count === 1 ? '' : 's'}: schema version ${latest}`, ''].join('\n'));
    expect(await tableCount(connectionString)).toBeGreaterThan(0);
    expect((await meshid('migrate', '--config', config, '--dry-run')).stdout).toContain('up to date: no pending migrations\n');
  });

  async function tableCount(connectionString: string): Promise<number> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
      return (rows[0] as { n: number }).n;
    } finally {
      await client.end();
    }
  }
});

describe('meshid datastore usage', { timeout: 30_000 }, () => {
  it('names the verbs when one is missing, and prints its help', async () => {
    const res = await meshid('export');
    expect(res).toMatchObject({ code: 2, stderr: expect.stringMatching(/^meshid: usage: meshid datastore backup --out FILE/) });
    const help = await meshid('restore', '--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('SQLite: stop the CA first.') });
  });
});
