// Kubernetes mode at the CA: the AuthorizationPolicy resources of the cluster (a kube-apiserver stand-in,
// reached through the CA's kubeconfig) reach a VM agent's ext_authz, and follow changes; an invalid resource
// is rejected at the CA and the agent keeps its set.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyUpdate } from '../../core/policy/store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createJoinToken, nextEvent, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { KubePolicyStandin } from '../policy/kube-standin.js';
import { AuthzClient, BATCH, DENIED_BY_QUARANTINE, EVIL, FRONTEND, NO_ALLOW, nextReload } from './support.js';

const cr = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
  spec,
});
const allowCallers = (principals: string[]) =>
  cr('shop', 'allow-callers', {
    selector: { matchLabels: { app: 'api' } },
    rules: [{ from: [{ source: { principals: principals.map((id) => id.slice('spiffe://'.length)) } }], to: [{ operation: { methods: ['GET'] } }] }],
  });

const standin = new KubePolicyStandin();
let dir: string;
let ca: CaFixture;
let agent: NodeAgent;
let authz: AuthzClient;
const applied = () => nextEvent<[PolicyUpdate]>(agent.policyWatcher!, 'applied');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-kube-policies-'));
  standin.apply(allowCallers([FRONTEND]));
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, (await standin.start()).exportConfig(), { mode: 0o600 });
  ca = await CaFixture.start({
    kubernetes: 'disabled',
    config: { kubernetes: { mode: 'disabled', kubeconfig }, policies: { kubernetes: true } },
  });
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/kube-policies');
  admin.close();
  const socket = path.join(dir, 'authz', 'authz.sock');
  agent = await startAgent(agentConfig(ca, await tempDir(dir), { joinToken: token.value, authz: { socket } }));
  if (!agent.policies.current) await applied();
  authz = new AuthzClient(socket);
});

afterAll(async () => {
  authz?.close();
  await agent?.close();
  await ca?.close();
  await standin.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('AuthorizationPolicy resources distributed by the CA', () => {
  it('delivers the listed resources to the agent', async () => {
    expect(ca.server.policies.current()).toMatchObject({ source: 'kubernetes', policies_json: [expect.stringContaining('"allow-callers"')] });
    expect(await authz.decide(FRONTEND)).toBe('allowed');
    expect(await authz.decide(BATCH)).toBe(NO_ALLOW);
  });

  it('follows resources added and changed in the cluster', async () => {
    let next = applied();
    standin.apply(cr('istio-system', 'deny-quarantine', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['quarantine'] } }] }] }));
    await next;
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);

    next = applied();
    standin.apply(allowCallers([FRONTEND, BATCH]));
    await next;
    expect(await authz.decide(BATCH)).toBe('allowed');
  });

  it('rejects an invalid resource at the CA; the agent keeps its set', async () => {
    const agentSet = agent.policies.current;
    const reload = nextReload(ca);
    standin.apply(cr('shop', 'broken', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }));
    const result = await reload;
    expect('error' in result ? result.error.message : result).toMatch(/^kubernetes: shop\/broken: spec.action: the CUSTOM action/m);
    expect(agent.policies.current).toBe(agentSet);
    expect(await authz.decide(BATCH)).toBe('allowed');
    expect(await authz.decide(EVIL)).toBe(DENIED_BY_QUARANTINE);
  });
});
