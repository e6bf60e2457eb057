// The node agent in Kubernetes mode as its DaemonSet runs it, against a real kube-apiserver: it attests with
// its own projected token (TokenRequest bound to its pod on node-a), takes its node name from the
// environment variable the downward API sets, and serves a real Envoy over SDS with a pod's projected token.
// The CA reviews every token with the real TokenReview API; the node check uses the node claims that the API
// server puts into pod-bound tokens (and returns in the review's user.extra). The CA calls the API server with
// its ServiceAccount bound by the Helm chart's RBAC, so every call it makes is one the chart grants.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { readCaServerConfig } from '../../ca-server/config.js';
import { startCaServer, type CaServer } from '../../ca-server/server.js';
import { createLogger } from '../../core/log.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { privateKeyFromPem } from '../../core/x509/keys.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { loadNodeAgentConfig, type NodeAgentConfig } from '../../node-agent/config.js';
import { envoyBootstrap } from '../../node-agent/sds/envoy-bootstrap.js';
import type { WorkloadCaller } from '../../node-agent/identity-source.js';
import { pollUntil } from '../node-agent/interop/support/agent-fixture.js';
import { startEnvoy, type EnvoyProcess } from '../node-agent/interop/support/envoy.js';
import { LogCapture, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { applyChartRbac } from '../deploy/chart.js';
import { KubeCluster, type CreatedPod } from '../peers/kube-cluster.js';
import { checkX509SvidProfile } from '../x509/svid-profile.js';

const TD = 'k8s.test';
const AUDIENCE = 'meshid';
let root: string;
let cluster: KubeCluster;
let ca: CaServer;
let agent: NodeAgent;
const agentLogs = new LogCapture();
const pods: Record<'agentA' | 'webA' | 'webB' | 'rogue', CreatedPod> = {} as never;

const podToken = (pod: CreatedPod, audiences = [AUDIENCE]) => cluster.podToken(pod, audiences);
const tokenCaller = async (pod: CreatedPod): Promise<WorkloadCaller> => ({ kind: 'k8s-token', token: await podToken(pod) });

/**
 * The agent's config as the chart renders it: a YAML file plus the node name in the environment
 * (MESHID_AGENT_KUBERNETES__NODE_NAME from fieldRef spec.nodeName); the token file is the projected one.
 */
async function daemonSetConfig(token: string | undefined, nodeName = 'node-a'): Promise<NodeAgentConfig> {
  const dir = await tempDir(root);
  const tokenFile = path.join(dir, 'token');
  if (token !== undefined) await writeFile(tokenFile, token, { mode: 0o600 });
  const file = path.join(dir, 'agent.yaml');
  await writeFile(
    file,
    YAML.stringify({
      mode: 'k8s',
      server: { address: `127.0.0.1:${ca.grpcPort}`, tlsServerName: 'localhost', trustBundleFile: ca.bundleFile },
      dataDir: path.join(dir, 'data'),
      socketDir: path.join(dir, 'sockets'),
      // 600 s tokens (TokenRequest's minimum) end their workload streams after 2.4 s instead of 540 s.
      kubernetes: { tokenFile, streamTokenFraction: 0.004 },
      backoff: { initial: '50ms', max: '400ms' },
      listen: { ops: '127.0.0.1:0' },
    }),
  );
  return loadNodeAgentConfig({ file, env: { MESHID_AGENT_KUBERNETES__NODE_NAME: nodeName } });
}

beforeAll(async () => {
  root = await tempDir();
  cluster = await KubeCluster.start();
  pods.agentA = await cluster.createPod({ namespace: 'meshid-system', name: 'meshid-agent-a', serviceAccount: 'meshid-agent', nodeName: 'node-a' });
  pods.webA = await cluster.createPod({ namespace: 'shop', name: 'web-a', serviceAccount: 'web', nodeName: 'node-a' });
  pods.webB = await cluster.createPod({ namespace: 'shop', name: 'web-b', serviceAccount: 'web', nodeName: 'node-b' });
  pods.rogue = await cluster.createPod({ namespace: 'shop', name: 'rogue-a', serviceAccount: 'web', nodeName: 'node-a' });
  const config = readCaServerConfig({
    trustDomain: TD,
    dataDir: path.join(root, 'ca'),
    listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(root, 'admin.sock') },
    kubernetes: {
      mode: 'tokenreview',
      // Exactly the Helm chart's RBAC: the CA's ServiceAccount and ClusterRole, as installed.
      kubeconfig: await (await applyChartRbac(cluster)).caKubeconfig(path.join(root, 'kubeconfig')),
      audiences: [AUDIENCE],
      trustedNodeAccounts: ['meshid-system/meshid-agent'],
    },
  });
  ca = await startCaServer(config, createLogger({ name: 'meshid-ca', level: 'silent' }));
  agent = await startAgent(await daemonSetConfig(await podToken(pods.agentA)), agentLogs, true);
});

afterAll(async () => {
  await agent?.close();
  await ca?.close();
  await cluster?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('Kubernetes agent attestation with a real projected token', () => {
  it('attests as the agent of the node its pod is bound to', () => {
    expect(agent.identity.current()!.spiffeId).toBe(`spiffe://${TD}/meshid/agent/k8s/node-a`);
    expect(agent.notReady()).toBeNull();
  });

  it('refuses, before calling the CA, a token bound to a node other than its own', async () => {
    const config = await daemonSetConfig(await podToken(pods.agentA), 'node-b');
    const serial = new X509Certificate(agent.identity.current()!.chainPem).serialNumber;
    await expect(startAgent(config)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message:
        `the service-account token in ${config.kubernetes.tokenFile} (kubernetes.tokenFile) is bound to a pod on node node-a, ` +
        "but this agent runs on node node-b (kubernetes.nodeName); mount the token projected into this node's agent pod",
    });
    // node-a's real agent was not displaced by a re-attestation.
    await expect(agent.source.x509Svids(await tokenCaller(pods.webA))).resolves.toHaveLength(1);
    expect(new X509Certificate(agent.identity.current()!.chainPem).serialNumber).toBe(serial);
  });

  it('refuses an agent whose service account is not a trusted node account', async () => {
    await expect(startAgent(await daemonSetConfig(await podToken(pods.rogue)))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('shop/web is not a trusted node agent account'),
    });
  });

  it('refuses a service-account token that is not bound to a pod', async () => {
    const unbound = await cluster.requestToken('meshid-system', 'meshid-agent', { audiences: [AUDIENCE] });
    await expect(startAgent(await daemonSetConfig(unbound))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('the agent token is not bound to a pod on a node'),
    });
  });

  it('names the token file it cannot read', async () => {
    const config = await daemonSetConfig(undefined);
    await expect(startAgent(config)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `cannot read the agent's service-account token ${config.kubernetes.tokenFile} (kubernetes.tokenFile): ENOENT`,
    });
  });
});

describe('workload SVIDs for real pod tokens', () => {
  it("gives a pod on the agent's node its service-account identity", async () => {
    const [svid, ...rest] = await agent.source.x509Svids(await tokenCaller(pods.webA));
    expect(rest).toEqual([]);
    expect(svid!.spiffeId).toBe(`spiffe://${TD}/ns/shop/sa/web`);
    expect(
      checkX509SvidProfile(svid!.chainDer, {
        expectedSpiffeId: svid!.spiffeId,
        trustDomain: TrustDomain.parse(TD),
        privateKey: privateKeyFromPem(svid!.privateKeyPem),
        roots: agent.source.ownBundle().rootsDer,
        now: new Date(),
      }),
    ).toEqual([]);
  });

  it('refuses a pod on another node with PERMISSION_DENIED', async () => {
    await expect(agent.source.x509Svids(await tokenCaller(pods.webB))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: "CA refused MintWorkloadSVIDs: pod shop/web-b runs on node node-b, not on this agent's node node-a",
    });
  });

  it('refuses the token of a deleted pod, and of a deleted service account', async () => {
    const gone = await cluster.createPod({ namespace: 'shop', name: 'gone-a', serviceAccount: 'web', nodeName: 'node-a' });
    const podGone = await podToken(gone);
    await cluster.deletePod('shop', 'gone-a');
    await expect(agent.source.x509Svids({ kind: 'k8s-token', token: podGone })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/^CA refused MintWorkloadSVIDs: .*service account token has been invalidated/),
    });

    const temp = await cluster.createPod({ namespace: 'shop', name: 'temp-a', serviceAccount: 'temp', nodeName: 'node-a' });
    const accountGone = await podToken(temp);
    await cluster.deleteServiceAccount('shop', 'temp');
    await expect(agent.source.x509Svids({ kind: 'k8s-token', token: accountGone })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/^CA refused MintWorkloadSVIDs: .*serviceaccounts "temp" not found/),
    });
  });

  it('refuses a pod token minted for another audience', async () => {
    await expect(agent.source.x509Svids({ kind: 'k8s-token', token: await podToken(pods.webA, ['vault']) })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/audience/),
    });
  });

  it('mints JWT-SVIDs for a pod on the node, and refuses one on another node', async () => {
    const [jwt] = await agent.source.jwtSvids(await tokenCaller(pods.webA), ['orders']);
    expect(jwt!.spiffeId).toBe(`spiffe://${TD}/ns/shop/sa/web`);
    await expect(agent.source.jwtSvids(await tokenCaller(pods.webB), ['orders'])).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('never logs pod tokens', async () => {
    const token = await podToken(pods.webA);
    await agent.source.x509Svids({ kind: 'k8s-token', token });
    expect(agentLogs.text()).not.toContain(token);
  });
});

describe('a real Envoy on the node', () => {
  type Cert = { serial_number: string; subject_alt_names: { uri?: string }[] };
  const servedCerts = async (envoy: EnvoyProcess) =>
    (JSON.parse((await envoy.admin('/certs')).body) as { certificates: { ca_cert: Cert[]; cert_chain: Cert[] }[] }).certificates;
  const leafSerial = async (envoy: EnvoyProcess) => (await servedCerts(envoy)).flatMap((c) => c.cert_chain.map((cert) => cert.serial_number))[0];

  it("gets its pod's identity over SDS, and a new one with the token the kubelet refreshed before the old one expires", async () => {
    const dir = path.join(root, 'envoy');
    await mkdir(dir, { recursive: true });
    const tokenFile = path.join(dir, 'istio-token');
    await writeFile(tokenFile, await cluster.podToken(pods.webA, [AUDIENCE], 600));
    await chmod(tokenFile, 0o600);
    const adminSocket = path.join(dir, 'admin.sock');
    const envoy = await startEnvoy({
      name: 'web-a',
      dir,
      adminSocket,
      bootstrap: envoyBootstrap({
        sdsSocket: agent.endpoints!.socketPath([]),
        sdsTokenFile: tokenFile,
        nodeId: 'web-a',
        admin: { pipe: adminSocket },
        inbound: { listen: { pipe: path.join(dir, 'in.sock') }, app: { pipe: path.join(dir, 'app.sock') } },
      }),
    });
    try {
      await envoy.ready();
      const certs = await servedCerts(envoy);
      const uris = certs.flatMap((c) => c.cert_chain.flatMap((cert) => cert.subject_alt_names.map((san) => san.uri)));
      expect(uris).toContain(`spiffe://${TD}/ns/shop/sa/web`);
      // ROOTCA is the CA's trust bundle.
      const rootSerials = agent.source.ownBundle().rootsDer.map((der) => new X509Certificate(der).serialNumber.toLowerCase());
      expect(certs.flatMap((c) => c.ca_cert.map((cert) => cert.serial_number.toLowerCase()))).toEqual(expect.arrayContaining(rootSerials));

      // The kubelet refreshes the projected token; the agent ends the stream before the old token expires and
      // Envoy reconnects with the new file: a certificate minted with the new token replaces the first one.
      const first = await leafSerial(envoy);
      await writeFile(tokenFile, await cluster.podToken(pods.webA, [AUDIENCE], 600));
      await pollUntil(() => leafSerial(envoy), (serial) => serial !== undefined && serial !== first, 'a certificate for the refreshed token', 20_000);
      expect(agentLogs.text()).toContain('ending the stream before its service-account token expires');
    } finally {
      await envoy.stop();
    }
  });
});
