// Kubernetes mode against a real CA that reviews tokens with the TokenReview stand-in: the agent attests with
// its own projected token (a trusted node account on node-a); a pod token from node-a gets that pod's
// identity, a pod on node-b is refused (node-scoped check), garbage gets a clear UNAUTHENTICATED.
import { X509Certificate } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCaServerConfig } from '../../ca-server/config.js';
import { startCaServer, type CaServer } from '../../ca-server/server.js';
import { createLogger } from '../../core/log.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import { privateKeyFromPem } from '../../core/x509/keys.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { readNodeAgentConfig, type NodeAgentConfig } from '../../node-agent/config.js';
import type { WorkloadCaller } from '../../node-agent/identity-source.js';
import { TokenReviewStandin } from '../support/tokenreview-standin.js';
import { LogCapture, startAgent, tempDir } from './agent-fixture.js';

const TD = 'k8s.test';
const AUDIENCE = 'meshid';
let root: string;
let standin: TokenReviewStandin;
let ca: CaServer;
let agent: NodeAgent;
const agentLogs = new LogCapture();

const pods = {
  agentA: { name: 'meshid-agent-a', uid: 'uid-agent-a', namespace: 'meshid-system', serviceAccount: 'meshid-agent', nodeName: 'node-a' },
  webA: { name: 'web-a', uid: 'uid-web-a', namespace: 'shop', serviceAccount: 'web', nodeName: 'node-a' },
  webB: { name: 'web-b', uid: 'uid-web-b', namespace: 'shop', serviceAccount: 'web', nodeName: 'node-b' },
  rogue: { name: 'rogue-a', uid: 'uid-rogue', namespace: 'shop', serviceAccount: 'web', nodeName: 'node-a' },
};

const podToken = (pod: { namespace: string; name: string }) =>
  standin.mintPodToken(pod.namespace, pod.name, { audiences: [AUDIENCE], lifetimeSeconds: 3600 });
const tokenCaller = async (pod: { namespace: string; name: string }): Promise<WorkloadCaller> => ({ kind: 'k8s-token', token: await podToken(pod) });

/** A k8s-mode agent whose projected token is `token` (written to a 0600 file). */
async function k8sConfig(token: string | undefined): Promise<NodeAgentConfig> {
  const dir = await tempDir(root);
  const tokenFile = path.join(dir, 'token');
  if (token !== undefined) await writeFile(tokenFile, token, { mode: 0o600 });
  return readNodeAgentConfig({
    mode: 'k8s',
    server: { address: `127.0.0.1:${ca.grpcPort}`, tlsServerName: 'localhost', trustBundleFile: ca.bundleFile },
    dataDir: path.join(dir, 'data'),
    socketDir: path.join(dir, 'sockets'),
    kubernetes: { tokenFile },
    backoff: { initial: '50ms', max: '400ms' },
    listen: { ops: '127.0.0.1:0' },
  });
}

beforeAll(async () => {
  root = await tempDir();
  standin = await TokenReviewStandin.start();
  for (const pod of Object.values(pods)) standin.registerPod(pod);
  const config = readCaServerConfig({
    trustDomain: TD,
    dataDir: path.join(root, 'ca'),
    listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(root, 'admin.sock') },
    kubernetes: {
      mode: 'tokenreview',
      kubeconfig: await standin.writeKubeconfig(root),
      audiences: [AUDIENCE],
      trustedNodeAccounts: ['meshid-system/meshid-agent'],
    },
  });
  ca = await startCaServer(config, createLogger({ name: 'meshid-ca', level: 'silent' }));
  agent = await startAgent(await k8sConfig(await podToken(pods.agentA)), agentLogs);
});

afterAll(async () => {
  await agent?.close();
  await ca?.close();
  await standin?.close();
  await rm(root, { recursive: true, force: true });
});

describe('Kubernetes agent attestation', () => {
  it('attests with its projected token as the agent of its node', () => {
    expect(agent.identity.current()!.spiffeId).toBe(`spiffe://${TD}/meshid/agent/k8s/node-a`);
    expect(agent.notReady()).toBeNull();
    expect(agent.entries).toBeUndefined();
  });

  it('refuses to start when its service account is not a trusted node account', async () => {
    await expect(startAgent(await k8sConfig(await podToken(pods.rogue)))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('shop/web is not a trusted node agent account'),
    });
  });

  it('names the token file it cannot read', async () => {
    const config = await k8sConfig(undefined);
    await expect(startAgent(config)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `cannot read the agent's service-account token ${config.kubernetes.tokenFile} (kubernetes.tokenFile): ENOENT`,
    });
  });
});

describe('workload SVIDs for pod tokens', () => {
  it('gives a pod on the agent\'s node its service-account identity', async () => {
    const caller = await tokenCaller(pods.webA);
    const [svid, ...rest] = await agent.source.x509Svids(caller);
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
    // The same token again is served from the cache.
    const [again] = await agent.source.x509Svids(caller);
    expect(new X509Certificate(again!.chainDer[0]!).serialNumber).toBe(new X509Certificate(svid!.chainDer[0]!).serialNumber);
  });

  it('refuses a pod on another node with PERMISSION_DENIED', async () => {
    await expect(agent.source.x509Svids(await tokenCaller(pods.webB))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: "CA refused MintWorkloadSVIDs: pod shop/web-b runs on node node-b, not on this agent's node node-a",
    });
  });

  it('refuses a garbage token with a clear UNAUTHENTICATED that does not echo it', async () => {
    const garbage = 'not-a-jwt-at-all';
    const err = await agent.source.x509Svids({ kind: 'k8s-token', token: garbage }).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/^CA refused MintWorkloadSVIDs: .*token/) });
    expect((err as Error).message).not.toContain(garbage);
    await expect(agent.source.x509Svids({ kind: 'k8s-token', token: '' })).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'no service-account token presented',
    });
  });

  it('refuses unix callers: a Kubernetes agent identifies workloads by their token', async () => {
    await expect(agent.source.x509Svids({ kind: 'unix', selectors: ['unix:uid:0'] })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('Kubernetes mode'),
    });
  });

  it('mints JWT-SVIDs for a pod on the node, and refuses one on another node', async () => {
    const [jwt] = await agent.source.jwtSvids(await tokenCaller(pods.webA), ['orders']);
    expect(jwt!.spiffeId).toBe(`spiffe://${TD}/ns/shop/sa/web`);
    expect(JSON.parse(Buffer.from(jwt!.token.split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: jwt!.spiffeId, aud: ['orders'] });
    await expect(agent.source.jwtSvids(await tokenCaller(pods.webB), ['orders'])).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('never logs pod tokens', async () => {
    const token = await podToken(pods.webA);
    await agent.source.x509Svids({ kind: 'k8s-token', token });
    await agent.source.x509Svids({ kind: 'k8s-token', token: 'garbage-token-value' }).catch(() => undefined);
    expect(agentLogs.text()).not.toContain(token);
    expect(agentLogs.text()).not.toContain('garbage-token-value');
  });
});
