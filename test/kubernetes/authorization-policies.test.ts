// AuthorizationPolicies as real custom resources: Istio's security.istio.io CRDs (pinned istio.io/api module)
// installed into a real kube-apiserver, watched by the CA, distributed to a VM agent, and enforced by a real
// Envoy's ext_authz filter. Its mTLS identity comes from the same agent over SDS; callers hold SVIDs the CA
// issued for real pod tokens (TokenReview). Create, update and delete reach Envoy's decisions without a
// restart; an object the CRD schema refuses never reaches meshid, and one the schema admits but meshid cannot
// enforce is reported while the last good set stays in force.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyUpdate } from '../../core/policy/store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { envoyBootstrap } from '../../node-agent/sds/envoy-bootstrap.js';
import { AUDIENCE, CaFixture, newCsr, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, LogCapture, nextEvent, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { startEnvoy, type EnvoyProcess } from '../node-agent/interop/support/envoy.js';
import { applyChartRbac } from '../deploy/chart.js';
import { KubeCluster, readCrds } from '../peers/kube-cluster.js';
import { requireCrds } from '../peers/peers.js';
import { nextReload } from '../policy-distribution/support.js';

const API = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/api`;
const FRONTEND = { namespace: 'web', serviceAccount: 'frontend' };
const BATCH = { namespace: 'ops', serviceAccount: 'batch' };
const EVIL = { namespace: 'quarantine', serviceAccount: 'evil' };
type Caller = typeof FRONTEND;
const principal = (c: Caller) => `${TRUST_DOMAIN}/ns/${c.namespace}/sa/${c.serviceAccount}`;
const DENIED_BY_QUARANTINE = 'denied by istio-system/deny-quarantine rule 0';
const NO_ALLOW = 'denied: no ALLOW policy matched';

const policy = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec,
});
const allowCallers = (callers: Caller[]) =>
  policy('shop', 'allow-callers', {
    selector: { matchLabels: { app: 'api' } },
    rules: [{ from: [{ source: { principals: callers.map(principal) } }], to: [{ operation: { methods: ['GET'], paths: ['/orders*'] } }] }],
  });
const denyQuarantine = policy('istio-system', 'deny-quarantine', {
  action: 'DENY',
  rules: [{ from: [{ source: { namespaces: ['quarantine'] } }] }],
});

let root: string;
let cluster: KubeCluster;
let ca: CaFixture;
let agent: NodeAgent;
let envoy: EnvoyProcess;
const app = http.createServer((req, res) => res.end(`orders for ${req.headers['x-forwarded-client-cert'] ? 'an mTLS caller' : 'nobody'}\n`));
const clients = new Map<Caller, { certChainPem: string; keyPem: string }>();
const sock = (name: string) => path.join(root, name);
const applied = () => nextEvent<[PolicyUpdate]>(agent.policyWatcher!, 'applied');

/** An SVID as istio-agent gets one: a real pod's projected token + CSR to the Istio CA API. */
async function clientSvid(caller: Caller) {
  const pod = await cluster.createPod({ ...caller, name: `${caller.serviceAccount}-1`, nodeName: 'node-a' });
  const token = await cluster.podToken(pod, [AUDIENCE]);
  const istio = ca.istioClient({ bearer: () => token });
  try {
    const { csr, keyPem } = await newCsr();
    const res = await rpc(istio, istio.CreateCertificate, { csr, validity_duration: 3600 });
    return { certChainPem: res.cert_chain.slice(0, -1).join(''), keyPem };
  } finally {
    istio.close();
  }
}

/** GET over mTLS through Envoy's inbound listener as `caller`: the status and Envoy's deny reason header. */
function get(caller: Caller, urlPath = '/orders'): Promise<{ status: number; reason: string | undefined }> {
  const svid = clients.get(caller)!;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        socketPath: sock('api-in.sock'),
        path: urlPath,
        headers: { host: 'api.shop' },
        ca: ca.bundlePem(),
        cert: svid.certChainPem,
        key: svid.keyPem,
        checkServerIdentity: () => undefined, // an SVID names a URI, no DNS name
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-meshid-authz'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  root = await tempDir();
  cluster = await KubeCluster.start();
  await cluster.installCrds(await readCrds(requireCrds('istio.yaml'), ['authorizationpolicies.security.istio.io']));
  for (const ns of ['shop', 'istio-system']) await cluster.ensureNamespace(ns);
  await cluster.apply(allowCallers([FRONTEND]));
  // The CA runs with exactly the Helm chart's RBAC for policies (TokenReview + AuthorizationPolicy list/watch).
  const chart = await applyChartRbac(cluster, { policies: { kubernetes: true } });
  ca = await CaFixture.start({
    kubernetes: 'disabled',
    config: {
      kubernetes: { mode: 'tokenreview', kubeconfig: await chart.caKubeconfig(sock('kubeconfig')), audiences: [AUDIENCE] },
      policies: { kubernetes: true },
    },
  });
  for (const caller of [FRONTEND, BATCH, EVIL]) clients.set(caller, await clientSvid(caller));

  const selectors = [`unix:uid:${process.getuid!()}`];
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/policy-node');
  await createEntry(admin, { spiffeId: API, parentId: token.spiffeId, selectors });
  admin.close();
  agent = await startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value }), new LogCapture(), true);
  await agent.entries!.refresh();
  await agent.endpoints!.update(agent.entries!.selectorSets());
  if (!agent.policies.current) await applied();

  app.listen(sock('app.sock'));
  await once(app, 'listening');
  envoy = await startEnvoy({
    name: 'api',
    dir: root,
    adminSocket: sock('api-admin.sock'),
    bootstrap: envoyBootstrap({
      sdsSocket: agent.endpoints!.socketPath(selectors),
      nodeId: 'api-1',
      admin: { pipe: sock('api-admin.sock') },
      inbound: { listen: { pipe: sock('api-in.sock') }, app: { pipe: sock('app.sock') } },
      extAuthz: { socket: agent.authz!.socketPath, labels: { app: 'api' } },
    }),
  });
  await envoy.ready();
}, 120_000);

afterAll(async () => {
  await envoy?.stop();
  app.close();
  await agent?.close();
  await ca?.close();
  await cluster?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('AuthorizationPolicy custom resources enforced by a real Envoy', () => {
  it('enforces the policies listed at start: the allowed caller gets 200, others 403 with the reason', async () => {
    expect(ca.server.policies.current()).toMatchObject({ source: 'kubernetes', policies_json: [expect.stringContaining('"allow-callers"')] });
    expect(await get(FRONTEND)).toEqual({ status: 200, reason: undefined });
    expect(await get(BATCH)).toEqual({ status: 403, reason: NO_ALLOW });
    expect(await get(FRONTEND, '/admin')).toEqual({ status: 403, reason: NO_ALLOW });
  });

  it('follows create, update and delete in the cluster without restarting Envoy or the agent', async () => {
    let next = applied();
    await cluster.apply(denyQuarantine);
    await next;
    expect(await get(EVIL)).toEqual({ status: 403, reason: DENIED_BY_QUARANTINE });

    next = applied();
    await cluster.apply(allowCallers([FRONTEND, BATCH]));
    await next;
    expect(await get(BATCH)).toEqual({ status: 200, reason: undefined });

    next = applied();
    await cluster.call('DELETE', '/apis/security.istio.io/v1/namespaces/istio-system/authorizationpolicies/deny-quarantine');
    await next;
    expect(await get(EVIL)).toEqual({ status: 403, reason: NO_ALLOW });
    next = applied();
    await cluster.apply(denyQuarantine);
    await next;
  });

  it("an object Istio's CRD schema refuses is refused by the API server (422) and never reaches meshid", async () => {
    const bad = policy('shop', 'bad-schema', { rules: [{ to: [{ operation: { methods: 'GET' } }] }] });
    const res = await cluster.request('POST', '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies', bad);
    expect(res.status).toBe(422);
    expect(res.body.message).toContain('spec.rules[0].to[0].operation.methods');
    const both = policy('shop', 'bad-cel', { selector: { matchLabels: { app: 'api' } }, targetRefs: [{ kind: 'Service', group: '', name: 'api' }] });
    const cel = await cluster.request('POST', '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies', both);
    expect(cel.status).toBe(422);
    expect(cel.body.message).toContain('only one of targetRefs or selector can be set');
  });

  it('an object the schema admits but meshid cannot enforce is reported by the CA; the last good set stays', async () => {
    const agentSet = agent.policies.current;
    const reload = nextReload(ca);
    await cluster.apply(policy('shop', 'broken', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }));
    const result = await reload;
    expect('error' in result ? result.error.message : result).toMatch(/^kubernetes: shop\/broken: spec.action: the CUSTOM action/m);
    expect(agent.policies.current).toBe(agentSet);
    expect(await get(BATCH)).toEqual({ status: 200, reason: undefined });
    expect(await get(EVIL)).toEqual({ status: 403, reason: DENIED_BY_QUARANTINE });

    // Once the object is gone the CA's set is valid again.
    const fixed = nextReload(ca);
    await cluster.call('DELETE', '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies/broken');
    expect(await fixed).toMatchObject({ update: { policies: 2 } });
  });
});
