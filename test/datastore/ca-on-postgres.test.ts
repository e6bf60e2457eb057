import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDataStore } from '../../ca-server/datastore/postgres.js';
import { DATASTORE_FILE } from '../../ca-server/datastore/sqlite.js';
import { JwtCa, rpc, TRUST_DOMAIN } from '../jwt-svid/ca.js';
import { startPostgres, type PostgresCluster } from '../peers/postgres.js';

let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.close();
});

describe('the CA server with datastore.type postgres', () => {
  it('keeps join tokens, agents, entries, authorities and JWT keys in PostgreSQL, and finds them again after a restart', async () => {
    const connectionString = await cluster.createDatabase();
    const config = { datastore: { type: 'postgres', connectionString } };
    const ca = await JwtCa.start({ config });
    const agent = await ca.attestAgent({ joinToken: true });
    const entryId = await ca.createEntry(`spiffe://${TRUST_DOMAIN}/workload/web`, agent.spiffeId);
    const roots = ca.server.bundle().toPem();
    expect(ca.server.store).toBeInstanceOf(PostgresDataStore);
    await ca.close({ keepDir: true });
    expect(existsSync(path.join(ca.dir, 'data', DATASTORE_FILE))).toBe(false);

    const store = await PostgresDataStore.open({ pool: { connectionString } });
    const [token] = await store.listJoinTokens();
    expect(token?.usedAt).toBeInstanceOf(Date);
    expect((await store.listAgents()).map((a) => a.spiffeId)).toEqual([agent.spiffeId]);
    expect(await store.getEntry(entryId)).toMatchObject({ parentId: agent.spiffeId });
    expect(await store.listAuthorities({ state: 'active' })).not.toEqual([]);
    expect(await store.listJwtKeys({ state: 'active' })).toHaveLength(1);
    await store.close();

    const restarted = await JwtCa.start({ dir: ca.dir, config });
    expect(restarted.server.bundle().toPem()).toBe(roots);
    const admin = restarted.admin();
    expect((await rpc(admin, admin.ListEntries, {})).entries.map((e) => e.id)).toEqual([entryId]);
    await restarted.close();
  });
});
