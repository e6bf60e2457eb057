// A real CA distributes the policies in its watched policy file to a real VM agent, whose ext_authz socket
// enforces them: changes arrive without restarts, an invalid file at the CA changes nothing, and the agent
// keeps enforcing the last good set through a CA outage, even across its own restart (persisted set).
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyUpdate } from '../../core/policy/store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { POLICY_FILE } from '../../node-agent/policy-watcher.js';
import { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createJoinToken, LogCapture, metricValue, nextEvent, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { AuthzClient, BATCH, DENIED_BY_QUARANTINE, EVIL, FRONTEND, INVALID_POLICY_YAML, NO_ALLOW, nextReload, writePolicies } from './support.js';

let root: string;
let policyFile: string;
let ca: CaFixture;
let caPort = 0;
let agentDir: string;
let agent: NodeAgent;
let authz: AuthzClient;

const authzSocket = () => path.join(root, 'authz', 'authz.sock');

/** The CA on a fixed data dir (and, after the first start, the same port), distributing `policyFile`. */
async function startCa(): Promise<CaFixture> {
  const started = await CaFixture.start({
    kubernetes: 'disabled',
    dataDir: path.join(root, 'ca'),
    config: {
      policies: { paths: [policyFile] },
      listen: { grpc: `127.0.0.1:${caPort}`, metrics: '127.0.0.1:0', adminSocket: path.join(root, 'admin.sock') },
    },
  });
  caPort = started.server.grpcPort;
  return started;
}

const applied = (a: NodeAgent, accept?: (u: PolicyUpdate) => boolean) => nextEvent<[PolicyUpdate]>(a.policyWatcher!, 'applied', accept);

beforeAll(async () => {
  root = await tempDir();
  policyFile = path.join(root, 'policies', 'mesh.yaml');
  await mkdir(path.dirname(policyFile));
  await writePolicies(policyFile, [FRONTEND]);
  ca = await startCa();
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/policy-vm');
  admin.close();
  agentDir = await tempDir(root);
  agent = await startAgent(agentConfig(ca, agentDir, { joinToken: token.value, authz: { socket: authzSocket() } }));
  // The set may already have arrived while the agent started.
  if (!agent.policies.current) await applied(agent);
  authz = new AuthzClient(authzSocket());
});

afterAll(async () => {
  authz?.close();
  await agent?.close();
  await ca?.close();
  await rm(root, { recursive: true, force: true });
});

describe('policies from the CA enforced by the agent\'s ext_authz', () => {
  it('delivers the policies of the CA\'s file to the agent, which decides with them', async () => {
    expect(agent.policies.current!.policies.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual(['istio-system/deny-quarantine', 'shop/allow-callers']);
    expect(agent.policies.current!.rootNamespace).toBe('istio-system');
    expect(await authz.decide(FRONTEND)).toBe('allowed');
    expect(await authz.decide(FRONTEND, '/admin')).toBe(NO_ALLOW);
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);
    expect(await authz.decide(BATCH)).toBe(NO_ALLOW);
    expect(await metricValue(agent.metrics.policyUpdates, { result: 'applied' })).toBe(1);
  });

  it('persists the applied set owner-only in the VM agent\'s data dir', async () => {
    await agent.policyWatcher!.persisted();
    expect((await stat(path.join(agent.config.dataDir, POLICY_FILE))).mode & 0o777).toBe(0o600);
  });

  it('applies a change of the CA\'s file at the agent without a restart', async () => {
    const next = applied(agent);
    await writePolicies(policyFile, [FRONTEND, BATCH]);
    expect((await next)[0]).toMatchObject({ source: 'ca', policies: 2 });
    expect(await authz.decide(BATCH)).toBe('allowed');
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);
  });

  it('rejects an invalid policy file at the CA: the CA and the agent keep the last good set', async () => {
    const caSet = ca.server.policies.current();
    const agentSet = agent.policies.current;
    const reload = nextReload(ca);
    await writeFile(policyFile, INVALID_POLICY_YAML);
    const result = await reload;
    expect('error' in result ? result.error.message.split('\n') : result).toEqual([
      `${policyFile}: shop/broken: spec.selectr: unknown field (expected selector, action, rules)`,
      `${policyFile}: shop/broken: spec.rules: a DENY policy without rules never denies anything; use \`rules: [{}]\` to deny every request`,
    ]);
    expect(ca.server.policies.current()).toBe(caSet); // nothing new to send
    expect(await ca.server.metrics.registry.getSingleMetricAsString('meshid_ca_policy_reloads_total')).toContain('meshid_ca_policy_reloads_total{result="rejected"} 1');
    expect(agent.policies.current).toBe(agentSet);
    expect(await authz.decide(BATCH)).toBe('allowed');
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);

    // Fixed: the stream is still up and delivers it.
    const next = applied(agent);
    await writePolicies(policyFile, [FRONTEND, BATCH, EVIL]);
    await next;
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE); // DENY wins over ALLOW
    expect(await authz.decide(BATCH)).toBe('allowed');
  });

  it('keeps enforcing the last good set while the CA is down', async () => {
    const disconnected = nextEvent<[Error]>(agent.policyWatcher!, 'disconnected');
    await ca.closeServer();
    expect((await disconnected)[0].message).toMatch(/policy stream ended: the CA server is shutting down; reconnect to keep receiving policy updates/);
    expect(await authz.decide(BATCH)).toBe('allowed');
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);
    expect(await authz.decide(FRONTEND, '/admin')).toBe(NO_ALLOW);
  });

  it('enforces the persisted set after an agent restart while the CA is still down, then follows the CA again', async () => {
    await agent.policyWatcher!.persisted();
    await agent.close();
    authz.close();
    // Same data dir: the persisted agent SVID, bundle and policy set; no join token needed.
    const logs = new LogCapture();
    agent = await startAgent(agentConfig(ca, agentDir, { authz: { socket: authzSocket() } }), logs);
    authz = new AuthzClient(authzSocket());
    expect(logs.entries().find((e) => e.msg === 'enforcing the persisted authorization policies until the CA sends its set')).toMatchObject({ policies: 2 });
    expect(await authz.decide(BATCH)).toBe('allowed');
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);
    expect(await authz.decide(FRONTEND, '/admin')).toBe(NO_ALLOW);

    // The CA comes back (same data dir and port) with a changed file; the restarted agent follows it.
    await writePolicies(policyFile, [FRONTEND]);
    const next = applied(agent, (u) => u.source === 'ca');
    ca = await startCa();
    await next;
    expect(await authz.decide(BATCH)).toBe(NO_ALLOW);
    expect(await authz.decide(FRONTEND)).toBe('allowed');
  }, 60_000);
});
