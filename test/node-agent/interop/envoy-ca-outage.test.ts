// A CA outage under live traffic between two real Envoys that take their SVIDs and SPIFFE validation contexts
// from a real node agent's SDS sockets (15-second SVIDs, renewal at 50% +- 10% of the lifetime). The CA is
// stopped while the Envoys hold their first SVIDs and stays down until the agent has tried and failed to renew
// both and the latest renewal point of the jitter window has passed; every request (each a full mTLS handshake)
// still succeeds on the cached certificates. The CA then comes back on the same data dir and port, and the
// agent renews and pushes new SVIDs over the SDS streams the Envoys already have before the old ones expire:
// no Envoy, agent or stream is restarted. Requests keep succeeding after the old certificates have expired.
import { X509Certificate } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshidError } from '../../../core/errors.js';
import type { NodeAgent } from '../../../node-agent/agent.js';
import type { X509SvidMaterial } from '../../../node-agent/identity-source.js';
import { CaFixture } from '../../ca-server/fixture.js';
import { requirePeer } from '../../peers/peers.js';
import { until } from '../../rotation/support.js';
import { freePort } from '../../support/free-port.js';
import { agentConfig, createEntry, createJoinToken, LogCapture, metricValue, nextEvent, startAgent, tempDir, TRUST_DOMAIN } from '../agent-fixture.js';
import { startEnvoyPair, startTraffic, type EnvoyPair } from './envoy-traffic.js';
import { pollUntil } from './support/agent-fixture.js';
import type { EnvoyProcess } from './support/envoy.js';

const SVID_TTL_SECONDS = 15;
/** What the agent needs once the CA is back (reconnect, mint, push) before the cached SVIDs expire. */
const RECOVERY_MARGIN_MS = 2_500;
const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/api`;
const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/frontend`;
const SERVER_UID = ['unix:uid:1101'];
const CLIENT_UID = ['unix:uid:1102'];

const serialOf = (svid: X509SvidMaterial) => new X509Certificate(svid.chainDer[0]!).serialNumber.toLowerCase();

/** Serials of the leaves for `spiffeId` in an Envoy's TLS contexts, from its admin /certs. */
async function servedSerials(envoy: EnvoyProcess, spiffeId: string): Promise<string[]> {
  const { certificates } = JSON.parse((await envoy.admin('/certs')).body) as {
    certificates: { cert_chain?: { serial_number: string; subject_alt_names?: { uri?: string }[] }[] }[];
  };
  const leaves = certificates.flatMap((c) => c.cert_chain ?? []).filter((cert) => cert.subject_alt_names?.some((san) => san.uri === spiffeId));
  return [...new Set(leaves.map((cert) => cert.serial_number.toLowerCase()))];
}

describe('CA outage longer than a rotation window, between two real Envoys', () => {
  let dir: string;
  let port: number;
  let ca: CaFixture | undefined;
  let agent: NodeAgent;
  const agentLogs = new LogCapture();
  let pair: EnvoyPair | undefined;
  const peers: { envoy: EnvoyProcess; spiffeId: string; entryId: string }[] = [];

  /** (Re)starts the CA on the same data dir, port and admin socket. Agent SVIDs last an hour: only workload SVIDs go through the outage. */
  const startCa = async () => {
    ca = await CaFixture.start({
      kubernetes: 'disabled',
      dataDir: path.join(dir, 'ca-data'),
      config: {
        svid: { defaultTtl: `${SVID_TTL_SECONDS}s`, maxTtl: '1h' },
        agentSvidTtl: '1h',
        listen: { grpc: `127.0.0.1:${port}`, metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'admin.sock') },
      },
    });
  };

  beforeAll(async () => {
    requirePeer('envoy');
    dir = await tempDir();
    port = await freePort();
    await startCa();
    const admin = ca!.adminClient();
    const token = await createJoinToken(admin, '/meshid/agent/vm-envoy-outage');
    agent = await startAgent(
      agentConfig(ca!, path.join(dir, 'agent'), {
        joinToken: token.value,
        backoff: { initial: '200ms', max: '1s' },
        rotation: { fraction: 0.5, jitter: 0.1 },
      }),
      agentLogs,
      true,
    );
    const serverEntry = await createEntry(admin, { spiffeId: SERVER_ID, parentId: token.spiffeId, selectors: SERVER_UID });
    const clientEntry = await createEntry(admin, { spiffeId: CLIENT_ID, parentId: token.spiffeId, selectors: CLIENT_UID });
    admin.close();
    await agent.entries!.refresh();
    const sds = (uid: string[]) => agent.endpoints!.socketPath(uid);
    await pollUntil(() => Promise.all([sds(SERVER_UID), sds(CLIENT_UID)].map((p) => access(p).then(() => true, () => false))), (ok) => ok.every(Boolean), 'the per-uid SDS sockets');

    pair = await startEnvoyPair({ dir, serverSds: sds(SERVER_UID), clientSds: sds(CLIENT_UID), serverId: SERVER_ID });
    peers.push({ envoy: pair.server, spiffeId: SERVER_ID, entryId: serverEntry }, { envoy: pair.client, spiffeId: CLIENT_ID, entryId: clientEntry });
  });

  /** A metric of the agent's registry (the SDS ones are registered there by the workload endpoints). */
  const agentMetric = (name: string, labels: Record<string, string> = {}) => {
    const metric = agent.metrics.registry.getSingleMetric(name);
    if (!metric) throw new Error(`the agent registers no metric ${name}`);
    return metricValue(metric, labels);
  };

  afterAll(async () => {
    await pair?.stop();
    await agent?.close();
    await ca?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Envoy serves the cached certs through the outage; once the CA is back rotation resumes with nothing restarted and zero failed requests', async () => {
    const started = performance.now();
    const at = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
    const phases: string[] = [];
    const sdsStreams = () => agentMetric('meshid_agent_sds_streams');
    const sdsUpdates = () => Promise.all(peers.map(({ envoy }) => envoy.statSum('ssl_context_update_by_sds')));
    const traffic = startTraffic(pair!.clientListener, (r) => r.status === 200 && r.body.includes(`URI=${CLIENT_ID}`) && r.body.includes(`By=${SERVER_ID}`));
    await pollUntil(() => traffic.ok, (n) => n >= 10, 'traffic to flow before the outage');
    expect(await sdsStreams()).toBe(4); // default + ROOTCA for each Envoy

    // CA down. What the agent holds at this moment is what the Envoys must serve until the CA is back.
    const failedRenewals = peers.map(({ entryId }) =>
      nextEvent<[string, MeshidError, number]>(agent.svids, 'rotation-failed', (key) => key === entryId, SVID_TTL_SECONDS * 1000),
    );
    await ca!.close();
    ca = undefined;
    const stoppedAt = Date.now();
    phases.push(`CA stopped at ${at()} after ${traffic.ok} requests`);
    const cached = peers.map(({ entryId }) => agent.svids.peek(entryId)!);
    for (const [i, { envoy, spiffeId }] of peers.entries()) {
      await pollUntil(() => servedSerials(envoy, spiffeId), (s) => s.join() === serialOf(cached[i]!), `${envoy.name} Envoy to serve the agent's cached SVID`);
    }
    const updatesAtStop = await sdsUpdates();

    // Stay down past the latest point at which the agent renews any of them: (fraction + jitter) of a lifetime
    // that began before the stop. It must still leave the agent time to renew before the first one expires.
    const { fraction, jitter } = agent.config.rotation;
    const renewBy = Math.max(...cached.map((svid) => svid.notAfter.getTime() - (1 - fraction - jitter) * (svid.notAfter.getTime() - stoppedAt)));
    const firstExpiry = Math.min(...cached.map((svid) => svid.notAfter.getTime()));
    expect(renewBy, 'the outage must end early enough for the agent to renew before expiry').toBeLessThan(firstExpiry - RECOVERY_MARGIN_MS);

    // The agent tried to renew each SVID, failed for want of a CA, and kept the cached one.
    for (const [, error, retryInMs] of await Promise.all(failedRenewals)) {
      expect({ code: error.code, reason: error.reason }).toEqual({ code: 'UNAVAILABLE', reason: 'ca_unavailable' });
      expect(retryInMs).toBeGreaterThan(0);
    }
    phases.push(`both renewals failed by ${at()}`);
    await until(new Date(renewBy));
    const outageMs = Date.now() - stoppedAt;
    expect(await metricValue(agent.metrics.rotationFailures, { kind: 'workload', reason: 'ca_unavailable' })).toBeGreaterThanOrEqual(2);
    const warnings = agentLogs.entries().filter((e) => e.msg === 'workload SVID renewal failed; serving the cached SVID until it expires');
    // One warning per identity at least, told apart by expiry (the logger censors the `key` field they carry).
    expect(warnings.every((e) => e.code === 'UNAVAILABLE')).toBe(true);
    expect(new Set(warnings.map((e) => e.expiresAt))).toEqual(new Set(cached.map((svid) => svid.notAfter.toISOString())));
    const timeLeft = await agentMetric('meshid_agent_svid_expiry_seconds', { kind: 'workload' });
    expect(timeLeft).toBeGreaterThan(0);
    expect(timeLeft * 1000).toBeLessThanOrEqual(firstExpiry - Date.now() + 1000);
    // Still the cached certificates, nothing pushed, every request served.
    for (const [i, { envoy, spiffeId }] of peers.entries()) expect(await servedSerials(envoy, spiffeId)).toEqual([serialOf(cached[i]!)]);
    expect(await sdsUpdates()).toEqual(updatesAtStop);
    expect(traffic.failed).toEqual([]);
    const okAtRestart = traffic.ok;
    phases.push(`CA restarting at ${at()} after ${(outageMs / 1000).toFixed(1)} s down, ${timeLeft.toFixed(1)} s before the first cached SVID expires`);

    // CA back on the same data dir and port: the agent renews by itself and pushes on the open SDS streams.
    const renewals = peers.map(({ entryId }) => nextEvent<[string, X509SvidMaterial]>(agent.svids, 'rotated', (key) => key === entryId, 10_000));
    await startCa();
    const renewed = (await Promise.all(renewals)).map(([, svid]) => svid);
    for (const [i, { envoy, spiffeId }] of peers.entries()) {
      await pollUntil(() => envoy.statSum('ssl_context_update_by_sds'), (n) => n > updatesAtStop[i]!, `${envoy.name} Envoy to apply a renewed SVID over SDS`);
      await pollUntil(() => servedSerials(envoy, spiffeId), (s) => s.includes(serialOf(renewed[i]!)), `${envoy.name} Envoy to serve the renewed SVID`);
      expect(renewed[i]!.notAfter.getTime()).toBeGreaterThan(cached[i]!.notAfter.getTime());
    }
    const recoveredAt = Date.now();
    expect(recoveredAt).toBeLessThan(firstExpiry);
    phases.push(`both Envoys on renewed SVIDs at ${at()}, ${((firstExpiry - recoveredAt) / 1000).toFixed(1)} s before the first cached one expired`);

    // Past the old certificates' expiry every handshake runs on the renewed ones; traffic goes on.
    await until(new Date(Math.max(...cached.map((svid) => svid.notAfter.getTime())) + 1000));
    const afterExpiry = traffic.ok;
    await pollUntil(() => traffic.ok, (n) => n >= afterExpiry + 20, 'traffic to flow after the cached SVIDs expired');
    await traffic.stop();
    phases.push(`done at ${at()}`);

    expect({ failed: traffic.failed.length, first: traffic.failed.slice(0, 3) }).toEqual({ failed: 0, first: [] });
    expect(traffic.ok).toBeGreaterThan(okAtRestart);
    for (const { envoy } of peers) {
      expect({ envoy: envoy.name, errors: await envoy.statSum('ssl.connection_error') }).toEqual({ envoy: envoy.name, errors: 0 });
      expect({ envoy: envoy.name, rejected: await envoy.statSum('update_rejected') }).toEqual({ envoy: envoy.name, rejected: 0 });
    }
    expect(await peers[1]!.envoy.statSum('upstream_cx_connect_fail')).toBe(0);
    expect(await peers[1]!.envoy.statSum('upstream_rq_5xx')).toBe(0);
    // The same SDS streams carried everything: none closed or reopened, nothing NACKed.
    expect(await sdsStreams()).toBe(4);
    expect(await agentMetric('meshid_agent_sds_pushes_total', { kind: 'initial' })).toBe(4);
    expect(await agentMetric('meshid_agent_sds_nacks_total')).toBe(0);
    const handshakes = (await peers[0]!.envoy.statSum('ssl.handshake')) + (await peers[1]!.envoy.statSum('ssl.handshake'));
    expect(handshakes).toBeGreaterThanOrEqual(2 * traffic.ok);

    console.log(`[envoy-ca-outage] ${traffic.ok} requests, ${handshakes} TLS handshakes, 0 failures: ${phases.join('; ')}`);
  }, 40_000);
});
