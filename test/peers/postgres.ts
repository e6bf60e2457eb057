// A throwaway PostgreSQL cluster for a test file: the provisioned Debian binaries (requirePeer), initdb into a
// temp dir, the server on a free loopback port with no Unix socket (optionally TLS), a new database per caller.
//
// Everything runs through setpriv (util-linux), which execs rather than forks, so the child we signal is the
// server itself, with --pdeathsig so the kernel stops the server if the test process dies without closing it.
// PostgreSQL refuses to run as root, and tests run as root here and in CI: then setpriv also switches to the
// `postgres` OS user (Debian's postgresql package creates it; provision-peers.sh makes sure it exists).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../support/free-port.js';
import { requirePeer } from './peers.js';

/** The OS account the server runs as when the tests run as root. */
const OS_USER = 'postgres';
const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 30_000;

export interface PostgresCluster {
  readonly host: string;
  readonly port: number;
  /** The superuser the tests connect as, and its password. */
  readonly user: string;
  readonly password: string;
  /** Creates an empty database and returns its connection string. */
  createDatabase(): Promise<string>;
  /** Fast shutdown (open connections are cut); data and port are kept for start(). */
  stop(): Promise<void>;
  /** Starts the server again after stop(); a no-op while it runs. */
  start(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Serving certificate and key: the server then accepts TLS (and still plain) connections. */
  tls?: { certPem: string; keyPem: string };
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const initdb = requirePeer('initdb');
  const postgres = requirePeer('postgres');
  const runAs = asUnprivilegedUser();
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-pg-'));
  const dataDir = path.join(dir, 'data');
  const user = 'meshid';
  const password = randomBytes(12).toString('hex');
  writeFileSync(path.join(dir, 'pwfile'), `${password}\n`);
  runAs.chown(dir);
  runAs.chown(path.join(dir, 'pwfile'));
  try {
    execFileSync(...runAs.command(initdb, [
      '-D', dataDir, '-U', user, `--pwfile=${path.join(dir, 'pwfile')}`, '--auth=scram-sha-256',
      '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions',
    ]), { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
  }

  const tlsArgs: string[] = [];
  if (options.tls) {
    const certFile = path.join(dir, 'server.crt');
    const keyFile = path.join(dir, 'server.key');
    writeFileSync(certFile, options.tls.certPem);
    writeFileSync(keyFile, options.tls.keyPem, { mode: 0o600 });
    runAs.chown(certFile);
    runAs.chown(keyFile);
    tlsArgs.push('-c', 'ssl=on', '-c', `ssl_cert_file=${certFile}`, '-c', `ssl_key_file=${keyFile}`);
  }

  const host = '127.0.0.1';
  const port = await freePort();
  let server: ChildProcess | undefined;
  let databases = 0;

  const start = async () => {
    if (server) return;
    // Durability off: a test cluster is thrown away, and fsync would dominate the suite's time.
    const args = [
      '-D', dataDir, '-p', String(port), '-c', `listen_addresses=${host}`, '-c', 'unix_socket_directories=',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', ...tlsArgs,
    ];
    server = await spawnUntilReady(...runAs.command(postgres, args));
  };
  const stop = async () => {
    const running = server;
    server = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGINT');
    await exited;
  };
  const connectionString = (database: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`;

  await start();
  return {
    host,
    port,
    user,
    password,
    async createDatabase() {
      const name = `meshid_${++databases}`;
      const admin = new pg.Client({ connectionString: connectionString('postgres') });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return connectionString(name);
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface RunAs {
  command(binary: string, args: string[]): [string, string[]];
  chown(file: string): void;
}

function asUnprivilegedUser(): RunAs {
  const setpriv = (user: string[], binary: string, args: string[]): [string, string[]] => ['setpriv', ['--pdeathsig', 'SIGQUIT', ...user, binary, ...args]];
  if (process.getuid?.() !== 0) return { command: (binary, args) => setpriv([], binary, args), chown: () => undefined };
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }));
  } catch {
    throw new Error(`PostgreSQL will not run as root and there is no "${OS_USER}" OS user to run it as: run \`bash scripts/provision-peers.sh\``);
  }
  return {
    command: (binary, args) => setpriv([`--reuid=${uid}`, `--regid=${gid}`, '--init-groups'], binary, args),
    chown: (file) => chownSync(file, uid, gid),
  };
}

/** Spawns the server and resolves once it accepts connections; rejects with its output if it exits first. */
function spawnUntilReady(command: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let ready = false;
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGQUIT');
      reject(new Error(`PostgreSQL did not start (${why}):\n${output.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    // Read until ready, then keep draining the pipes so the server never blocks on a full one.
    const onOutput = (chunk: Buffer) => {
      if (ready) return;
      output += chunk.toString();
      if (!output.includes(READY)) return;
      ready = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(child);
    };
    const onExit = (code: number | null) => fail(`exited with ${code}`);
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('exit', onExit);
    child.once('error', (err) => fail(err.message));
  });
}
