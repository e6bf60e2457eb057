// Two real Envoys get their identities and SPIFFE validation contexts from the agent's SDS sockets (one per
// uid, as VM workloads would), complete mTLS to each other, and keep serving through certificate rotations.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyBootstrap } from '../../../node-agent/sds/envoy-bootstrap.js';
import { pollUntil, startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { TRUST_DOMAIN } from './support/ca-identity-source.js';
import { startEnvoy, type EnvoyProcess } from './support/envoy.js';

const SERVER_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/api`;
const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/frontend`;
const SERVER_UID = ['unix:uid:1101'];
const CLIENT_UID = ['unix:uid:1102'];

/** One HTTP request through a Unix socket; resolves with status and the app's JSON answer. */
function get(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/hello', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('real Envoys over the agent\'s SDS: mTLS with SPIFFE validation and rotation', () => {
  let agent: AgentFixture;
  let app: http.Server;
  let server: EnvoyProcess | undefined;
  let client: EnvoyProcess | undefined;
  let clientListener: string;
  let firstCertificateMs: number;

  beforeAll(async () => {
    agent = await startAgentFixture({ svidTtlSeconds: 120 });
    agent.source.register({ selectors: SERVER_UID }, [SERVER_ID]);
    agent.source.register({ selectors: CLIENT_UID }, [CLIENT_ID]);
    await agent.endpoints.update([SERVER_UID, CLIENT_UID]);
    const sock = (name: string) => path.join(agent.dir, name);

    // The app behind the server Envoy reports the client certificate details Envoy forwarded.
    app = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
    });
    app.listen(sock('app.sock'));
    await once(app, 'listening');

    clientListener = sock('client-out.sock');
    const started = performance.now();
    server = await startEnvoy({
      name: 'server',
      dir: agent.dir,
      adminSocket: sock('server-admin.sock'),
      bootstrap: envoyBootstrap({
        sdsSocket: agent.endpoints.socketPath(SERVER_UID),
        nodeId: 'api-1',
        admin: { pipe: sock('server-admin.sock') },
        inbound: { listen: { pipe: sock('server-in.sock') }, app: { pipe: sock('app.sock') } },
      }),
    });
    client = await startEnvoy({
      name: 'client',
      dir: agent.dir,
      adminSocket: sock('client-admin.sock'),
      bootstrap: envoyBootstrap({
        sdsSocket: agent.endpoints.socketPath(CLIENT_UID),
        nodeId: 'frontend-1',
        admin: { pipe: sock('client-admin.sock') },
        outbound: { listen: { pipe: clientListener }, upstream: { pipe: sock('server-in.sock') }, serverIds: [SERVER_ID] },
      }),
    });
    await Promise.all([server.ready(), client.ready()]);
    firstCertificateMs = performance.now() - started;
  });

  afterAll(async () => {
    await server?.stop();
    await client?.stop();
    app?.close();
    await agent?.close();
  });

  it('both Envoys fetch `default` and `ROOTCA` over SDS, ACK them and NACK nothing', async () => {
    expect(await agent.metric('meshid_agent_sds_streams')).toBe(4);
    expect(await agent.metric('meshid_agent_sds_pushes_total', { kind: 'initial' })).toBe(4);
    expect(await agent.metric('meshid_agent_sds_nacks_total')).toBe(0);
    const certs = JSON.parse((await server!.admin('/certs')).body) as { certificates: { cert_chain: { subject_alt_names: { uri: string }[] }[] }[] };
    const uris = certs.certificates.flatMap((c) => c.cert_chain.flatMap((cert) => cert.subject_alt_names.map((san) => san.uri)));
    expect(uris).toContain(SERVER_ID);
    console.log(`[envoy-mtls] two Envoys LIVE with SDS certificates ${firstCertificateMs.toFixed(0)} ms after spawn`);
  });

  it('completes mTLS between the Envoys; the app sees the client\'s SPIFFE ID', async () => {
    const response = await get(clientListener);
    expect(response.status).toBe(200);
    const { xfcc } = JSON.parse(response.body) as { xfcc: string };
    expect(xfcc).toContain(`By=${SERVER_ID}`);
    expect(xfcc).toContain(`URI=${CLIENT_ID}`);
  });

  /** Runs `check` against one more client Envoy (identity CLIENT_ID) talking to the server Envoy. */
  const withClientEnvoy = async (
    name: string,
    options: { serverIds: string[]; validation?: 'spiffe' | 'trusted_ca' },
    check: (envoy: EnvoyProcess, listener: string) => Promise<void>,
  ) => {
    const sock = (file: string) => path.join(agent.dir, `${name}-${file}`);
    const envoy = await startEnvoy({
      name,
      dir: agent.dir,
      adminSocket: sock('admin.sock'),
      bootstrap: envoyBootstrap({
        sdsSocket: agent.endpoints.socketPath(CLIENT_UID),
        nodeId: name,
        admin: { pipe: sock('admin.sock') },
        validation: options.validation,
        outbound: { listen: { pipe: sock('out.sock') }, upstream: { pipe: path.join(agent.dir, 'server-in.sock') }, serverIds: options.serverIds },
      }),
    });
    try {
      await envoy.ready();
      await check(envoy, sock('out.sock'));
    } finally {
      await envoy.stop();
    }
  };

  it('refuses an upstream whose SPIFFE ID is not the expected one', async () => {
    await withClientEnvoy('wary', { serverIds: [`spiffe://${TRUST_DOMAIN}/ns/shop/sa/payments`] }, async (envoy, listener) => {
      expect((await get(listener)).status).toBe(503);
      expect(await envoy.statSum('ssl.fail_verify_san')).toBeGreaterThan(0);
    });
  });

  it('validates with plain trusted_ca roots when the node metadata asks for them', async () => {
    await withClientEnvoy('legacy', { serverIds: [SERVER_ID], validation: 'trusted_ca' }, async (_envoy, listener) => {
      const response = await get(listener);
      expect(response.status).toBe(200);
      expect(response.body).toContain(`URI=${CLIENT_ID}`);
    });
  });

  it('receives rotated certificates over SDS while requests keep succeeding', async () => {
    const updates = async () => (await server!.statSum('ssl_context_update_by_sds')) + (await client!.statSum('ssl_context_update_by_sds'));
    let running = true;
    const outcomes: string[] = [];
    const traffic = (async () => {
      while (running) {
        const r = await get(clientListener).catch((err: Error) => ({ status: 0, body: err.message }));
        outcomes.push(r.status === 200 && r.body.includes(`URI=${CLIENT_ID}`) ? 'ok' : `${r.status} ${r.body}`);
      }
    })();

    for (let round = 1; round <= 2; round++) {
      const before = await updates();
      await agent.source.rotate();
      const [serverSvid] = await agent.source.x509Svids({ kind: 'unix', selectors: SERVER_UID });
      const serial = new X509Certificate(serverSvid!.chainDer[0]!).serialNumber.toLowerCase();
      // Both Envoys swap their TLS contexts (server: listener, client: cluster)...
      await pollUntil(updates, (n) => n >= before + 2, `round ${round}: both Envoys to apply the rotated certificates`);
      // ...and the server now holds the new leaf.
      await pollUntil(() => server!.admin('/certs').then((r) => r.body.toLowerCase()), (body) => body.includes(`"serial_number": "${serial}"`), `round ${round}: server Envoy to hold serial ${serial}`);
    }
    running = false;
    await traffic;
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    expect(await agent.metric('meshid_agent_sds_nacks_total')).toBe(0);
  });
});
