// End to end with a real Envoy: its mTLS identity (the API workload's SVID) and peer validation come from a
// real VM agent over SDS, and its ext_authz filter asks the same agent, which enforces the policies the real
// CA distributes. Clients present SVIDs the CA issued (Istio CA API): the allowed one gets 200, a DENY
// rule's target and an identity no ALLOW names get 403 with the reason header; a policy change at the CA
// reaches the untouched Envoy. Fails (never skips) when Envoy is not provisioned.
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyUpdate } from '../../core/policy/store.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { envoyBootstrap } from '../../node-agent/sds/envoy-bootstrap.js';
import { CaFixture, newCsr, rpc } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, LogCapture, nextEvent, startAgent, tempDir } from '../node-agent/agent-fixture.js';
import { startEnvoy, type EnvoyProcess } from '../node-agent/interop/support/envoy.js';
import { requirePeer } from '../peers/peers.js';
import { API, BATCH, DENIED_BY_QUARANTINE, EVIL, FRONTEND, NO_ALLOW, writePolicies } from './support.js';

interface ClientSvid {
  certChainPem: string;
  keyPem: string;
}

let root: string;
let policyFile: string;
let ca: CaFixture;
let agent: NodeAgent;
let envoy: EnvoyProcess | undefined;
const app = http.createServer((req, res) => res.end(`orders for ${req.headers['x-forwarded-client-cert'] ? 'an mTLS caller' : 'nobody'}\n`));
const clients = new Map<string, ClientSvid>();
const sock = (name: string) => path.join(root, name);

/** An SVID for `spiffeId` (spiffe://<td>/ns/<ns>/sa/<sa>) as istio-agent gets one: service-account token + CSR. */
async function clientSvid(spiffeId: string): Promise<ClientSvid> {
  const [, namespace, serviceAccount] = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffeId)!;
  const token = await ca.saToken(namespace!, serviceAccount!);
  const istio = ca.istioClient({ bearer: () => token });
  try {
    const { csr, keyPem } = await newCsr();
    const res = await rpc(istio, istio.CreateCertificate, { csr, validity_duration: 3600 });
    return { certChainPem: res.cert_chain.slice(0, -1).join(''), keyPem }; // leaf + intermediate, not the root
  } finally {
    istio.close();
  }
}

/** GET over mTLS through Envoy's inbound listener as `spiffeId`. */
function get(spiffeId: string, urlPath = '/orders'): Promise<{ status: number; reason: string | undefined; body: string }> {
  const svid = clients.get(spiffeId)!;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        socketPath: sock('api-in.sock'),
        path: urlPath,
        headers: { host: 'api.shop' },
        ca: ca.bundlePem(),
        cert: svid.certChainPem,
        key: svid.keyPem,
        checkServerIdentity: () => undefined, // an SVID names a URI, no DNS name; Envoy's ID is checked below
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-meshid-authz'] as string | undefined, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  requirePeer('envoy');
  root = await tempDir();
  policyFile = path.join(root, 'policies', 'mesh.yaml');
  await mkdir(path.dirname(policyFile));
  await writePolicies(policyFile, [FRONTEND]);
  ca = await CaFixture.start({ kubernetes: 'jwt', config: { policies: { paths: [policyFile] } } });
  for (const id of [FRONTEND, EVIL, BATCH]) clients.set(id, await clientSvid(id));

  // The agent serves the API workload's SVID on the socket for this process's uid (Envoy runs as it).
  const selectors = [`unix:uid:${process.getuid!()}`];
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/envoy-node');
  await createEntry(admin, { spiffeId: API, parentId: token.spiffeId, selectors });
  admin.close();
  agent = await startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value }), new LogCapture(), true);
  await agent.entries!.refresh();
  await agent.endpoints!.update(agent.entries!.selectorSets()); // queued behind the update the refresh triggered
  if (!agent.policies.current) await nextEvent(agent.policyWatcher!, 'applied');

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
  if (root) await rm(root, { recursive: true, force: true });
});

describe('real Envoy: identity over SDS and authorization over ext_authz from one agent, policies from the CA', () => {
  it('serves the API workload\'s SVID from the agent', async () => {
    const certs = JSON.parse((await envoy!.admin('/certs')).body) as { certificates: { cert_chain: { subject_alt_names: { uri?: string }[] }[] }[] };
    expect(certs.certificates.flatMap((c) => c.cert_chain.flatMap((cert) => cert.subject_alt_names.map((san) => san.uri)))).toContain(API);
  });

  it('lets the identity the CA\'s ALLOW policy names through (200)', async () => {
    expect(await get(FRONTEND)).toEqual({ status: 200, reason: undefined, body: 'orders for an mTLS caller\n' });
  });

  it('answers 403 with the reason header for an identity a DENY rule names', async () => {
    expect(await get(EVIL)).toEqual({ status: 403, reason: DENIED_BY_QUARANTINE, body: `${DENIED_BY_QUARANTINE}\n` });
  });

  it('answers 403 for an identity no ALLOW rule names, and for a path the ALLOW rule does not cover', async () => {
    expect(await get(BATCH)).toMatchObject({ status: 403, reason: NO_ALLOW });
    expect(await get(FRONTEND, '/admin')).toMatchObject({ status: 403, reason: NO_ALLOW });
  });

  it('enforces a policy change made at the CA without restarting Envoy or the agent', async () => {
    const applied = nextEvent<[PolicyUpdate]>(agent.policyWatcher!, 'applied');
    await writePolicies(policyFile, [FRONTEND, BATCH]);
    await applied;
    expect(await get(BATCH)).toMatchObject({ status: 200 });
    expect(await get(EVIL)).toMatchObject({ status: 403, reason: DENIED_BY_QUARANTINE });
  });
});
