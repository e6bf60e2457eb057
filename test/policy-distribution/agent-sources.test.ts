// Where an agent's policies come from: local files (authz.policyPaths) replace the CA's set entirely and
// are watched; authz.enabled=false serves no ext_authz socket and does not follow the CA's policies.
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyStore, PolicyUpdate } from '../../core/policy/store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createJoinToken, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { AuthzClient, BATCH, FRONTEND, NO_ALLOW, writePolicies } from './support.js';

let dir: string;
let ca: CaFixture;
const agents: NodeAgent[] = [];

/** The store's next update. */
const nextUpdate = (store: PolicyStore) =>
  new Promise<PolicyUpdate>((resolve) => {
    const stop = store.subscribe((update) => {
      stop();
      resolve(update);
    });
  });

async function agentWith(name: string, authz: Record<string, unknown>): Promise<NodeAgent> {
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, `/meshid/agent/${name}`);
  admin.close();
  const agent = await startAgent(agentConfig(ca, await tempDir(dir), { joinToken: token.value, authz }));
  agents.push(agent);
  return agent;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-agent-policy-sources-'));
  const caFile = path.join(dir, 'ca-policies.yaml');
  await writePolicies(caFile, [BATCH]);
  ca = await CaFixture.start({ kubernetes: 'disabled', config: { policies: { paths: [caFile] } } });
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await ca?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('agent policy sources', () => {
  it('enforces local policy files instead of the CA\'s set, and reloads them on change', async () => {
    const localFile = path.join(dir, 'local.yaml');
    await writePolicies(localFile, [FRONTEND]);
    const socket = path.join(dir, 'local-authz', 'authz.sock');
    const agent = await agentWith('local-files', { socket, policyPaths: [localFile] });
    const authz = new AuthzClient(socket);
    try {
      expect(agent.policyWatcher).toBeUndefined();
      expect(await authz.decide(FRONTEND)).toBe('allowed');
      expect(await authz.decide(BATCH)).toBe(NO_ALLOW); // the CA's set would allow it

      const reloaded = nextUpdate(agent.policies);
      await writePolicies(localFile, [FRONTEND, BATCH]);
      expect(await reloaded).toMatchObject({ source: 'files', policies: 2 });
      expect(await authz.decide(BATCH)).toBe('allowed');
    } finally {
      authz.close();
    }
  });

  it('serves no ext_authz socket and follows no policies when authz is disabled', async () => {
    const socket = path.join(dir, 'disabled-authz', 'authz.sock');
    const agent = await agentWith('authz-off', { enabled: false, socket });
    expect(agent.authz).toBeUndefined();
    expect(agent.policyWatcher).toBeUndefined();
    await expect(access(socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
