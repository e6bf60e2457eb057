// A real CA server whose signing CA comes from a real cert-manager CA ClusterIssuer (etcd + kube-apiserver +
// cert-manager's controller), with a running VM-mode node agent; then the operator rotates the issuer's CA in
// cert-manager (`cmctl renew` on its Certificate, a new key each time) and the new root reaches meshid's trust
// bundle, the agent's bundle, and every SVID issued after meshid's next signing CA.
//
// The cert-manager upstream does not watch its issuer: it learns the issuer's CA from the answer to its next
// CertificateRequest, i.e. at the signing-CA schedule's next prepare point (half the intermediate's lifetime,
// 3.5 days by default). The test runs that schedule as its timer does, at the schedule's own instants.
import { execFile, type ExecFileException } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotationSchedule } from '../../ca-server/authority/schedule.js';
import { derToPem } from '../../core/x509/pem.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import type { WorkloadCaller, X509SvidMaterial } from '../../node-agent/identity-source.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import { CaFixture, expectStatus, pemToDer } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, nextEvent, startAgent, tempDir, TRUST_DOMAIN } from '../node-agent/agent-fixture.js';
import { pollUntil } from '../node-agent/interop/support/agent-fixture.js';
import { CertManager, type CaIssuer } from '../peers/cert-manager.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { requirePeer } from '../peers/peers.js';
import { chainsTo, idOf, rotate } from '../rotation/support.js';
import { applyChartRbac } from '../deploy/chart.js';

const NAMESPACE = 'meshid-system';
const ISSUER = 'mesh-root';
const WORKLOAD: WorkloadCaller = { kind: 'unix', selectors: ['unix:uid:1001'] };

let dir: string;
let cluster: KubeCluster;
let certManager: CertManager;
let ca: CaFixture;
let admin: AdminServiceClient;
let agent: NodeAgent;
/** The workload's SVIDs as the agent pushes them to its watchers. */
const pushed: { at: number; svid: X509SvidMaterial }[] = [];
let oldRoot: Buffer;
let newRoot: Buffer;

const bundleRoots = () => ca.server.bundle().x509Authorities.map((der) => idOf(der));
const agentRoots = () => agent.source.ownBundle().rootsDer.map(idOf);
const rootOf = (issuer: CaIssuer) => pemToDer(issuer.rootPem);

/** openssl's output verifying an SVID chain (leaf first, roots excluded) with `root` as the only trust anchor. */
async function opensslVerify(name: string, chainDer: readonly Buffer[], root: Buffer): Promise<string> {
  const file = (suffix: string) => path.join(dir, `${name}-${suffix}.pem`);
  await writeFile(file('root'), derToPem(root));
  await writeFile(file('chain'), chainDer.slice(1).map(derToPem).join(''));
  await writeFile(file('leaf'), derToPem(chainDer[0]!));
  const args = ['verify', '-x509_strict', '-CAfile', file('root'), '-untrusted', file('chain'), file('leaf')];
  const { stdout, stderr } = await promisify(execFile)(requirePeer('openssl'), args).catch(
    (err: ExecFileException & { stdout: string; stderr: string }) => err,
  );
  return `${stdout}${stderr}`.trim().replaceAll(file('leaf'), name);
}

beforeAll(async () => {
  dir = await tempDir();
  cluster = await KubeCluster.start();
  certManager = await CertManager.start(cluster);
  await cluster.ensureNamespace(NAMESPACE);
  oldRoot = rootOf(await certManager.createCaIssuer(ISSUER, { commonName: 'Mesh Root CA' }));
  ca = await CaFixture.start({
    kubernetes: 'disabled',
    config: {
      ca: {
        upstream: {
          type: 'cert-manager',
          namespace: NAMESPACE,
          issuerName: ISSUER,
          issuerKind: 'ClusterIssuer',
          // Exactly the Helm chart's RBAC for this upstream (a Role on CertificateRequests in NAMESPACE).
          kubeconfig: await (
            await applyChartRbac(cluster, { upstream: { type: 'cert-manager', certManager: { issuerName: ISSUER, issuerKind: 'ClusterIssuer', namespace: NAMESPACE } } })
          ).caKubeconfig(path.join(dir, 'kubeconfig')),
        },
      },
    },
  });
  admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/vm-1');
  agent = await startAgent(agentConfig(ca, await tempDir(dir), { joinToken: token.value }));
  await createEntry(admin, { spiffeId: `spiffe://${TRUST_DOMAIN}/vm/api`, parentId: token.spiffeId, selectors: ['unix:uid:1001'] });
  await agent.entries!.refresh();
  agent.source.watchX509Svids(WORKLOAD, ([svid]) => pushed.push({ at: Date.now(), svid: svid! }));
  await pollUntil(() => pushed.length, (n) => n > 0, 'the first workload SVID');
});

afterAll(async () => {
  await agent?.close();
  admin?.close();
  await ca?.close();
  await certManager?.stop();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("rotating the cert-manager issuer's CA", () => {
  it("starts chained to cert-manager's root: meshid's bundle, the agent's bundle and the SVIDs", async () => {
    expect(bundleRoots()).toEqual([idOf(oldRoot)]);
    expect(agentRoots()).toEqual([idOf(oldRoot)]);
    expect(await opensslVerify('before', pushed.at(-1)!.svid.chainDer, oldRoot)).toBe('before: OK');
  });

  it('is done in cert-manager: meshid refuses a root rotation of its own', async () => {
    await expectStatus(rotate.prepare(admin), grpc.status.FAILED_PRECONDITION, /^the root is managed by the "cert-manager" upstream authority; rotate it there/);
  });

  it("the new root enters meshid's bundle with the next signing CA, and reaches the agent", async () => {
    newRoot = rootOf(await certManager.rotateCa(ISSUER));
    expect(idOf(newRoot)).not.toBe(idOf(oldRoot));
    // Nothing has asked the issuer since: meshid still knows only the old root.
    expect(bundleRoots()).toEqual([idOf(oldRoot)]);

    const twoRoots = nextEvent(agent.bundles, 'change', (b: { rootsDer: Buffer[] }) => b.rootsDer.length === 2);
    const { prepareAt } = rotationSchedule(ca.server.authorities.active().certificate);
    const { prepared } = await ca.server.authorities.rotateIntermediateIfDue(prepareAt);
    expect(prepared).toBeDefined();
    // The CA publishes the new bundle (to its streams, then to bundle()) right after the journal changed.
    await twoRoots;
    // The signing root stays first until the new signing CA activates.
    expect(agentRoots()).toEqual([idOf(oldRoot), idOf(newRoot)]);
    expect(bundleRoots()).toEqual(agentRoots());
    expect(ca.server.authorities.activeRootId()).toBe(idOf(oldRoot));
  });

  it('once the new signing CA activates, SVIDs are issued under the new root only; the old root stays trusted', async () => {
    const { activateAt } = rotationSchedule(ca.server.authorities.active().certificate);
    const activatedAt = Date.now();
    const { activated } = await ca.server.authorities.rotateIntermediateIfDue(activateAt);
    expect(activated).toBeDefined();
    expect(ca.server.authorities.activeRootId()).toBe(idOf(newRoot));

    // The agent hears of the new signing root and re-issues at once rather than at the next renewal.
    const fresh = await pollUntil(
      () => pushed.find((p) => p.at >= activatedAt && chainsTo(p.svid.chainDer, newRoot)),
      (p) => p !== undefined,
      'a workload SVID from the new root',
    );
    expect(await opensslVerify('after', fresh!.svid.chainDer, newRoot)).toBe('after: OK');
    expect(await opensslVerify('after-old-root', fresh!.svid.chainDer, oldRoot)).toMatch(/error 20 at \d+ depth lookup: unable to get local issuer certificate\nerror after-old-root: verification failed$/);
    await pollUntil(() => agent.identity.current()!.chainDer, (chain) => chainsTo(chain, newRoot), "the agent's own SVID from the new root");
    // SVIDs of the old signing CA are still valid: its root stays in both bundles (cert-manager no longer has it).
    expect(bundleRoots()).toEqual([idOf(newRoot), idOf(oldRoot)]);
    expect(agentRoots()).toEqual(bundleRoots());
    console.log(`[cert-manager rotation] workload SVID re-issued from the new root ${fresh!.at - activatedAt} ms after activation`);
  });
});
