// End to end: two real Envoys (client and server) take their SVIDs and SPIFFE validation contexts from a
// real node agent's SDS sockets and exchange requests without pause while the CA's root is rotated
// (prepare -> activate -> retire, 8-second SVIDs so it all fits in well under a minute). Every request opens
// a fresh mTLS connection between the Envoys with session resumption off, so each one is a full handshake
// against the validation context of that moment. Not one request or handshake may fail, and at the end both
// Envoys present SVIDs from the new root and trust only the new root.
import { X509Certificate } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeAgent } from '../../node-agent/agent.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, startAgent, tempDir, TRUST_DOMAIN } from '../node-agent/agent-fixture.js';
import { pollUntil } from '../node-agent/interop/support/agent-fixture.js';
import type { EnvoyProcess } from '../node-agent/interop/support/envoy.js';
import { requirePeer } from '../peers/peers.js';
import { chainsTo, idOf, rootDer, rotate, startRotationCa, until } from './support.js';
import { freePort } from '../support/free-port.js';
import { startEnvoyPair, startTraffic, type EnvoyPair } from '../node-agent/interop/envoy-traffic.js';

const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/api`;
const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/frontend`;
const SERVER_UID = ['unix:uid:1101'];
const CLIENT_UID = ['unix:uid:1102'];

type Json = Record<string, unknown>;

interface EnvoyTls {
  /** DER chain of the `default` certificate Envoy serves (leaf first). */
  chain: Buffer[];
  /** DER roots of the ROOTCA validation context (SPIFFE validator, own trust domain). */
  roots: Buffer[];
}

/** What an Envoy holds right now, from its admin config dump (private keys are redacted there). */
async function envoyTls(envoy: EnvoyProcess): Promise<EnvoyTls> {
  const dump = JSON.parse((await envoy.admin('/config_dump?resource=dynamic_active_secrets')).body) as {
    configs: { name: string; secret: Json }[];
  };
  const secret = (name: string) => dump.configs.find((c) => c.name === name)?.secret;
  const pems = (base64: string | undefined) =>
    base64 ? (Buffer.from(base64, 'base64').toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) : [];
  const der = (pem: string) => new X509Certificate(pem).raw;
  const certificate = secret('default')?.tls_certificate as { certificate_chain?: { inline_bytes?: string } } | undefined;
  const validation = secret('ROOTCA')?.validation_context as
    | { custom_validator_config?: { typed_config?: { trust_domains?: { name: string; trust_bundle?: { inline_bytes?: string } }[] } } }
    | undefined;
  const domain = validation?.custom_validator_config?.typed_config?.trust_domains?.find((d) => d.name === TRUST_DOMAIN);
  return { chain: pems(certificate?.certificate_chain?.inline_bytes).map(der), roots: pems(domain?.trust_bundle?.inline_bytes).map(der) };
}

describe('root rotation under live traffic between two real Envoys', () => {
  let dir: string;
  let ca: CaFixture;
  let admin: AdminServiceClient;
  let agent: NodeAgent;
  let pair: EnvoyPair | undefined;

  beforeAll(async () => {
    requirePeer('envoy');
    dir = await tempDir();
    ca = await startRotationCa(path.join(dir, 'ca-data'), await freePort());
    admin = ca.adminClient();
    const token = await createJoinToken(admin, '/meshid/agent/vm-envoy');
    agent = await startAgent(agentConfig(ca, path.join(dir, 'agent'), { joinToken: token.value }), undefined, true);
    await createEntry(admin, { spiffeId: SERVER_ID, parentId: token.spiffeId, selectors: SERVER_UID });
    await createEntry(admin, { spiffeId: CLIENT_ID, parentId: token.spiffeId, selectors: CLIENT_UID });
    await agent.entries!.refresh();
    const sds = (uid: string[]) => agent.endpoints!.socketPath(uid);
    await pollUntil(() => Promise.all([sds(SERVER_UID), sds(CLIENT_UID)].map((p) => access(p).then(() => true, () => false))), (ok) => ok.every(Boolean), 'the per-uid SDS sockets');

    pair = await startEnvoyPair({ dir, serverSds: sds(SERVER_UID), clientSds: sds(CLIENT_UID), serverId: SERVER_ID });
  });

  afterAll(async () => {
    await pair?.stop();
    await agent?.close();
    admin?.close();
    await ca?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prepare -> activate -> retire with zero failed requests or handshakes; both sides end on the new root only', async () => {
    const { server, client } = pair!;
    const envoys = [server, client];
    const started = performance.now();
    const outcomes = startTraffic(
      pair!.clientListener,
      (r) => r.status === 200 && r.body.includes(`URI=${CLIENT_ID}`) && r.body.includes(`By=${SERVER_ID}`),
    );
    const handshakes = async () => (await server.statSum('ssl.handshake')) + (await client.statSum('ssl.handshake'));
    const phases: string[] = [];
    const mark = async (phase: string) => phases.push(`${phase} at ${((performance.now() - started) / 1000).toFixed(1)} s (${await handshakes()} handshakes)`);
    await pollUntil(() => outcomes.ok, (n) => n >= 20, 'traffic to flow before the rotation');

    // prepare: both Envoys get a ROOTCA with both roots; the agent acknowledges the bundle
    const prepared = await rotate.prepare(admin);
    const oldRoot = prepared.authorities.find((a) => a.kind === 'root' && a.state === 'active')!.id;
    const newRoot = prepared.authorities.find((a) => a.kind === 'root' && a.state === 'prepared')!.id;
    for (const envoy of envoys) {
      await pollUntil(() => envoyTls(envoy).then((t) => t.roots.map(idOf).sort()), (ids) => ids.join() === [oldRoot, newRoot].sort().join(), `${envoy.name} Envoy to trust both roots`);
    }
    await pollUntil(() => rotate.status(admin), (s) => s.agents_active === 1 && s.agents_acknowledged === 1, 'the agent to acknowledge the bundle');
    await mark('prepared');

    // activate: both Envoys are handed SVIDs from the new root within seconds
    const activated = await rotate.activate(admin);
    expect(activated.phase).toBe('activated');
    const newRootDer = rootDer(ca, newRoot);
    for (const envoy of envoys) {
      await pollUntil(() => envoyTls(envoy), (t) => t.chain.length > 0 && chainsTo(t.chain, newRootDer), `${envoy.name} Envoy to present an SVID from the new root`);
    }
    await mark('activated, both Envoys on new-root SVIDs');

    // retire once nothing valid chains to the old root: both ROOTCAs drop it
    await until(new Date(activated.retire_safe_at * 1000));
    expect((await rotate.retire(admin)).phase).toBe('idle');
    for (const envoy of envoys) {
      await pollUntil(() => envoyTls(envoy).then((t) => t.roots.map(idOf)), (ids) => ids.join() === newRoot, `${envoy.name} Envoy to trust only the new root`);
    }
    await mark('retired');
    const before = outcomes.ok;
    await pollUntil(() => outcomes.ok, (n) => n >= before + 50, 'traffic to keep flowing after the retirement');
    await outcomes.stop();

    // zero failures: requests, handshakes, certificate verification
    expect({ failed: outcomes.failed.length, first: outcomes.failed.slice(0, 3) }).toEqual({ failed: 0, first: [] });
    for (const envoy of envoys) {
      expect({ envoy: envoy.name, errors: await envoy.statSum('ssl.connection_error') }).toEqual({ envoy: envoy.name, errors: 0 });
      for (const stat of ['ssl.fail_verify_error', 'ssl.fail_verify_san', 'ssl.fail_verify_no_cert', 'ssl.fail_verify_cert_hash']) {
        expect({ envoy: envoy.name, stat, value: await envoy.statSum(stat) }).toEqual({ envoy: envoy.name, stat, value: 0 });
      }
    }
    expect(await client.statSum('upstream_cx_connect_fail')).toBe(0);
    expect(await client.statSum('upstream_rq_5xx')).toBe(0);
    const total = await handshakes();
    expect(total).toBeGreaterThanOrEqual(2 * outcomes.ok); // one full handshake per request on each side

    // at the end both present SVIDs from the new root only, and trust nothing else
    for (const envoy of envoys) {
      const held = await envoyTls(envoy);
      expect(chainsTo(held.chain, newRootDer)).toBe(true);
      expect(held.roots.map(idOf)).toEqual([newRoot]);
      const certs = JSON.parse((await envoy.admin('/certs')).body) as { certificates: { cert_chain: { serial_number: string }[] }[] };
      const leafSerial = new X509Certificate(held.chain[0]!).serialNumber.toLowerCase();
      expect(certs.certificates.flatMap((c) => c.cert_chain.map((x) => x.serial_number.toLowerCase()))).toContain(leafSerial);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `[envoy-root-rotation] ${outcomes.ok} requests, ${total} TLS handshakes, 0 failures; ` +
        `rotation finished in ${seconds.toFixed(1)} s: ${phases.join('; ')}`,
    );
  });
});
