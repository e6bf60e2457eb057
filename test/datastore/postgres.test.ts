import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg, { type PoolConfig } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MeshidError } from '../../core/errors.js';
import type { DataStore } from '../../ca-server/datastore/datastore.js';
import { readCaServerConfig } from '../../ca-server/config.js';
import { openDataStore } from '../../ca-server/datastore/open-datastore.js';
import { PostgresDataStore } from '../../ca-server/datastore/postgres.js';
import { startPostgres, type PostgresCluster } from '../peers/postgres.js';
import { freePort } from '../support/free-port.js';
import { createLocalServerTls, type LocalServerTls } from '../support/standin-tls.js';
import { describeDataStoreContract } from './contract.js';
import { agent, at, entry, token } from './fixtures.js';

let cluster: PostgresCluster;
let serverTls: LocalServerTls;
const dir = mkdtempSync(path.join(tmpdir(), 'meshid-pg-test-'));
beforeAll(async () => {
  serverTls = await createLocalServerTls();
  cluster = await startPostgres({ tls: serverTls });
});
afterAll(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

const open = (connectionString: string, pool: Omit<PoolConfig, 'connectionString'> = {}) =>
  PostgresDataStore.open({ pool: { connectionString, ...pool } });

/** The MeshidError a call rejected with. */
async function failure(call: Promise<unknown>): Promise<MeshidError> {
  try {
    await call;
  } catch (err) {
    return err as MeshidError;
  }
  throw new Error('expected the call to fail');
}

/** A database per suite, emptied for each test once its stores are open (cheaper than CREATE DATABASE per test). */
function suiteDatabase(): { url(): Promise<string>; empty(): Promise<void> } {
  let url: string | undefined;
  return {
    url: async () => (url ??= await cluster.createDatabase()),
    async empty() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('TRUNCATE join_tokens, agents, agent_bans, registration_entries, authorities, jwt_keys');
      await client.end();
    },
  };
}

const contractDatabase = suiteDatabase();
describeDataStoreContract('PostgresDataStore', async () => {
  const store = await open(await contractDatabase.url());
  await contractDatabase.empty();
  return store;
});

describe('PostgresDataStore shared by three replicas (a pool each)', () => {
  const database = suiteDatabase();
  let replicas: DataStore[];
  beforeEach(async () => {
    const url = await database.url();
    replicas = await Promise.all([1, 2, 3].map(() => open(url)));
    await database.empty();
  });
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.close()));
  });

  it.each([
    ['a plain call', (store: DataStore) => store.consumeJoinToken('hash-t', at(1))],
    ['a transaction, as attestation does', (store: DataStore) => store.transaction((tx) => tx.consumeJoinToken('hash-t', at(1)))],
  ])('lets exactly one of 100 concurrent consumptions of one join token win, each %s', async (_, consume) => {
    await replicas[0]!.createJoinToken(token('t'));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => consume(replicas[i % 3]!)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(99);
    expect((await replicas[2]!.listJoinTokens())[0]!.usedAt).toEqual(at(1));
  });

  it('runs the replicas\' transactions one at a time, so a read-then-write never loses an update', async () => {
    await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        replicas[i % 3]!.transaction(async (tx) => {
          const n = (await tx.listEntries()).length;
          await new Promise((r) => setTimeout(r, 5));
          await tx.createEntry(entry(`e${n}`, 'p1', { createdAt: at(n) }));
        }),
      ),
    );
    expect((await replicas[1]!.listEntries()).map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8']);
  });

  it('takes the datastore lock from a replica that sits in a transaction for longer than idle_in_transaction_session_timeout', async () => {
    const hung = await open(await database.url(), { idle_in_transaction_session_timeout: 300 });
    let locked!: () => void;
    const holdsLock = new Promise<void>((r) => (locked = r));
    const stalled = hung.transaction(async (tx) => {
      await tx.createEntry(entry('lost', 'p1'));
      locked();
      await new Promise((r) => setTimeout(r, 1000));
      await tx.createEntry(entry('late', 'p1'));
    });
    await holdsLock;
    const started = Date.now();
    await replicas[0]!.transaction((tx) => tx.createEntry(entry('next', 'p1')));
    expect(Date.now() - started).toBeLessThan(900);
    expect(await failure(stalled)).toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'datastore_busy',
      message: expect.stringMatching(/: terminating connection due to idle-in-transaction timeout; retry$/),
    });
    expect((await replicas[1]!.listEntries()).map((e) => e.id)).toEqual(['next']);
    await hung.close();
  });

  it('orders a ban from one replica after another replica\'s admitting transaction, so the agent stays out', async () => {
    const id = agent('a').spiffeId;
    let checked!: () => void;
    const banCheckDone = new Promise<void>((r) => (checked = r));
    const admit = replicas[0]!.transaction(async (tx) => {
      expect(await tx.getAgentBan(id)).toBeUndefined();
      checked();
      await new Promise((r) => setTimeout(r, 100));
      await tx.upsertAgent(agent('a'));
    });
    await banCheckDone;
    await replicas[1]!.banAgent({ spiffeId: id, bannedAt: at(1), reason: 'stolen' });
    await admit;
    expect(await replicas[2]!.getAgent(id)).toBeUndefined();
    expect(await replicas[2]!.getAgentBan(id)).toMatchObject({ reason: 'stolen' });
  });
});

describe('PostgresDataStore when PostgreSQL is not there', () => {
  afterEach(async () => {
    await cluster.start();
  });

  const expectUnavailable = (err: MeshidError, pattern: RegExp, password = cluster.password) => {
    expect(err).toMatchObject({ name: 'MeshidError', code: 'UNAVAILABLE' });
    expect(err.message).toMatch(pattern);
    expect(err.message).not.toContain(password);
    expect(err.stack).not.toContain(password);
  };

  it('answers UNAVAILABLE, naming the server but not the password, while it is stopped, and recovers when it is back', async () => {
    const url = await cluster.createDatabase();
    const database = new URL(url).pathname.slice(1);
    const store = await open(url);
    await store.createEntry(entry('e1', 'p1'));
    let inside!: () => void;
    const began = new Promise<void>((r) => (inside = r));
    let resume!: () => void;
    const stopped = new Promise<void>((r) => (resume = r));
    const cutOff = store.transaction(async (tx) => {
      inside();
      await stopped;
      await tx.createEntry(entry('e2', 'p1'));
    });
    await began;
    await cluster.stop();
    resume();

    const server = new RegExp(`^PostgreSQL datastore meshid@127\\.0\\.0\\.1:${cluster.port}/${database} is unreachable \\(`);
    expectUnavailable(await failure(cutOff), server);
    for (const call of [store.listEntries(), store.ping(), store.createJoinToken(token('t')), store.transaction((tx) => tx.listEntries())]) {
      expectUnavailable(await failure(call), server);
    }
    expect((await failure(store.listEntries())).message).toMatch(/\(ECONNREFUSED\); check that PostgreSQL is running/);

    await cluster.start();
    expect((await store.listEntries()).map((e) => e.id)).toEqual(['e1']);
    await store.createJoinToken(token('t'));
    expect((await store.consumeJoinToken('hash-t', at(1))).ok).toBe(true);
    await store.close();
  });

  it('refuses to open with UNAVAILABLE when nothing listens, the password is wrong or the database is missing', async () => {
    const url = new URL(await cluster.createDatabase());
    const nobody = new URL(url);
    nobody.port = String(await freePort());
    expectUnavailable(await failure(open(nobody.href)), /is unreachable \(ECONNREFUSED\)/);

    const wrong = new URL(url);
    wrong.password = 'not-the-password-4711';
    const refused = await failure(open(wrong.href));
    expectUnavailable(refused, /refused the login \(password authentication failed for user "meshid"\); check the user and password/, 'not-the-password-4711');
    expect(refused.reason).toBe('datastore_auth');

    const missing = new URL(url);
    missing.pathname = '/no_such_db';
    expectUnavailable(await failure(open(missing.href)), /no_such_db: database "no_such_db" does not exist; create it/);
  });

  it('gives up connecting after pool.connectionTimeoutMillis to a server that never answers', async () => {
    const accepted = new Set<net.Socket>();
    const silent = net.createServer((socket) => accepted.add(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = new URL(await cluster.createDatabase());
    url.port = String((silent.address() as net.AddressInfo).port);
    const started = Date.now();
    expectUnavailable(await failure(open(url.href, { connectionTimeoutMillis: 200 })), /is unreachable \(Connection terminated due to connection timeout\)/);
    expect(Date.now() - started).toBeLessThan(5000);
    accepted.forEach((socket) => socket.destroy());
    silent.close();
  });
});

describe('openDataStore with datastore.type postgres', () => {
  /** The CA config for a fresh database, its connection string in a file as a Secret would hold it. */
  async function config(tls?: Record<string, unknown>) {
    const url = await cluster.createDatabase();
    const connectionStringFile = path.join(dir, `${new URL(url).pathname.slice(1)}.url`);
    writeFileSync(connectionStringFile, `${url}\n`, { mode: 0o600 });
    return { url, config: readCaServerConfig({ dataDir: dir, datastore: { type: 'postgres', connectionStringFile, ...(tls && { tls }) } }) };
  }

  /** Whether the server sees this database's connections as TLS ones. */
  async function connectedOverTls(url: string): Promise<boolean[]> {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const { rows } = await admin.query<{ ssl: boolean }>(
      'SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()',
    );
    await admin.end();
    return rows.map((r) => r.ssl);
  }

  it('reads the connection string from connectionStringFile and verifies the server against tls.caFile', async () => {
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, serverTls.caPem);
    const { url, config: cfg } = await config({ caFile });
    const store = await openDataStore(cfg);
    expect(store).toBeInstanceOf(PostgresDataStore);
    await store.createEntry(entry('e1', 'p1'));
    expect(await connectedOverTls(url)).toEqual([true]);
    await store.close();
  });

  it('refuses a server whose certificate tls.caFile does not vouch for, unless rejectUnauthorized is false', async () => {
    const otherCaFile = path.join(dir, 'other-ca.pem');
    writeFileSync(otherCaFile, (await createLocalServerTls()).caPem);
    const refused = await failure(openDataStore((await config({ caFile: otherCaFile })).config));
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', reason: 'datastore_tls' });
    expect(refused.message).toMatch(/^TLS to PostgreSQL datastore meshid@127\.0\.0\.1:\d+\/meshid_\d+ failed \(.*\); check datastore\.tls/);
    expect(refused.message).not.toContain(cluster.password);
    const store = await openDataStore((await config({ caFile: otherCaFile, rejectUnauthorized: false })).config);
    await store.ping();
    await store.close();
  });
});
