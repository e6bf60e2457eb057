import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrustBundle__Output } from '../../protos/gen/meshid/v1/TrustBundle.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { AUDIENCE, authorization, CaFixture, derToPem, grpcError, newCsr, rpc, splitPem } from './fixture.js';

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
};

/** The value of one sample line of the Prometheus text format, or undefined. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metrics.split('\n')) {
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(m[3]);
  }
  return undefined;
}

describe('/metrics, /healthz, /readyz', () => {
  let ca: CaFixture;

  beforeAll(async () => {
    ca = await CaFixture.start({ kubernetes: 'jwt' });
  });
  afterAll(async () => {
    await ca?.close();
  });

  it('/healthz and /readyz answer 200 while serving; unknown paths 404', async () => {
    expect(await get(`${ca.metricsUrl}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(`${ca.metricsUrl}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
    expect((await get(`${ca.metricsUrl}/nope`)).status).toBe(404);
  });

  it('counts CSRs by result, observes signing latency, counts authentication failures by reason, exports expiries', async () => {
    const client = ca.istioClient();
    const before = (await get(`${ca.metricsUrl}/metrics`)).body;
    const good = authorization(`Bearer ${await ca.saToken('shop', 'web')}`);
    try {
      for (let i = 0; i < 2; i++) await rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr, validity_duration: 600 }, good);
      await grpcError(rpc(client, client.CreateCertificate, { csr: 'not a csr', validity_duration: 600 }, good));
      const wrongAudience = authorization(`Bearer ${await ca.saToken('shop', 'web', { audiences: ['other'] })}`);
      await grpcError(rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr, validity_duration: 600 }, wrongAudience));
    } finally {
      client.close();
    }
    const res = await fetch(`${ca.metricsUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = await res.text();
    const delta = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);

    expect(delta('meshid_ca_csr_total', { api: 'istio', result: 'issued' })).toBe(2);
    expect(delta('meshid_ca_csr_total', { api: 'istio', result: 'invalid_argument' })).toBe(1);
    expect(delta('meshid_ca_csr_total', { api: 'istio', result: 'unauthenticated' })).toBe(1);
    expect(delta('meshid_ca_authentication_failures_total', { reason: 'token_wrong_audience' })).toBe(1);
    // Two workload SVIDs (the serving certificate is signed at start-up, before `before`).
    expect(delta('meshid_ca_signing_duration_seconds_count', {})).toBe(2);
    expect(sample(after, 'meshid_ca_signing_duration_seconds_bucket', { le: '+Inf' })).toBe(sample(after, 'meshid_ca_signing_duration_seconds_count'));
    expect(sample(after, 'meshid_ca_signing_duration_seconds_sum')).toBeGreaterThan(0);

    const root = new X509Certificate(ca.server.bundle().x509Authorities[0]!);
    const intermediate = new X509Certificate(ca.server.authorities.active().certificateDer);
    expect(sample(after, 'meshid_ca_authority_expiry_timestamp_seconds', { kind: 'root' })).toBe(Date.parse(root.validTo) / 1000);
    expect(sample(after, 'meshid_ca_authority_expiry_timestamp_seconds', { kind: 'intermediate' })).toBe(Date.parse(intermediate.validTo) / 1000);
    expect(after).toContain('# TYPE meshid_ca_process_cpu_seconds_total counter');
  });
});

/**
 * A TCP relay in front of the API server that can hold request bytes, so a CA call can be caught
 * in flight (waiting on the API server) at a moment the test chooses.
 */
class HoldingRelay {
  private holding = false;
  private readonly held: (() => void)[] = [];
  private heldWaiters: (() => void)[] = [];
  private constructor(private readonly server: net.Server) {}

  static async start(upstreamPort: number): Promise<HoldingRelay> {
    const server = net.createServer();
    const relay = new HoldingRelay(server);
    server.on('connection', (client) => {
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      upstream.pipe(client);
      client.on('data', (chunk) => {
        if (!relay.holding) return void upstream.write(chunk);
        relay.held.push(() => upstream.write(chunk));
        for (const wake of relay.heldWaiters.splice(0)) wake();
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  hold(): void {
    this.holding = true;
  }

  /** Resolves once some request bytes are being held. */
  somethingHeld(): Promise<void> {
    return this.held.length > 0 ? Promise.resolve() : new Promise((resolve) => this.heldWaiters.push(resolve));
  }

  release(): void {
    this.holding = false;
    for (const forward of this.held.splice(0)) forward();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('graceful shutdown', () => {
  let cluster: KubeCluster;
  let relay: HoldingRelay;
  let dir: string;
  let kubeconfigs = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshid-shutdown-'));
    cluster = await KubeCluster.start();
    relay = await HoldingRelay.start(Number(new URL(cluster.url).port));
  });
  afterAll(async () => {
    await relay?.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A CA in tokenreview mode whose API server traffic goes through the relay. */
  async function startCa(): Promise<CaFixture> {
    const kubeconfig = path.join(dir, `kubeconfig-${++kubeconfigs}.json`);
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${relay.port}`, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64') } }],
        users: [{ name: 'u', user: { token: cluster.adminToken } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
      { mode: 0o600 },
    );
    return CaFixture.start({ kubernetes: 'disabled', config: { kubernetes: { mode: 'tokenreview', kubeconfig, audiences: [AUDIENCE] } } });
  }

  it('lets an in-flight call finish, turns /readyz to 503, refuses new calls, then removes the admin socket', async () => {
    const ca = await startCa();
    const pod = await cluster.createPod({ namespace: 'shop', name: 'web-1', serviceAccount: 'web', nodeName: 'worker-1' });
    const token = await cluster.podToken(pod, [AUDIENCE]);
    const client = ca.istioClient();
    try {
      expect((await get(`${ca.metricsUrl}/readyz`)).status).toBe(200);
      expect((await stat(ca.server.adminSocket)).isSocket()).toBe(true);
      relay.hold();
      const inFlight = rpc(client, client.CreateCertificate, { csr: (await newCsr()).csr, validity_duration: 600 }, authorization(`Bearer ${token}`));
      await relay.somethingHeld(); // the call is now inside the CA, waiting on TokenReview

      let closed = false;
      const closing = ca.closeServer().then(() => (closed = true));
      expect(await get(`${ca.metricsUrl}/readyz`)).toEqual({ status: 503, body: 'shutting down\n' });
      const late = ca.istioClient();
      const refused = await grpcError(rpc(late, late.CreateCertificate, { csr: (await newCsr()).csr, validity_duration: 600 }, authorization(`Bearer ${token}`)));
      late.close();
      expect(refused.code).toBe(status.UNAVAILABLE);
      expect(closed).toBe(false);

      relay.release();
      const res = await inFlight;
      expect(splitPem(res.cert_chain[0]!).length).toBe(1);
      await closing;
      await expect(stat(ca.server.adminSocket)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      relay.release();
      client.close();
      await ca.close();
    }
  });

  it('ends open WatchBundle streams with UNAVAILABLE instead of waiting out the grace period', async () => {
    const ca = await startCa();
    const admin = ca.adminClient();
    const anonymous = ca.agentClient();
    const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
    const { csr, keyPem } = await newCsr();
    const attested = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
    admin.close();
    anonymous.close();
    const agent = ca.agentClient({ certChainPem: attested.svid!.cert_chain.map(derToPem).join(''), keyPem });
    const stream = agent.WatchBundle({});
    try {
      await new Promise<TrustBundle__Output>((resolve) => stream.once('data', resolve));
      const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      const started = Date.now();
      await ca.closeServer();
      expect(Date.now() - started).toBeLessThan(5_000); // the grace period is 10 s
      const err = await ended;
      expect({ code: err.code, details: err.details }).toEqual({
        code: status.UNAVAILABLE,
        details: 'the CA server is shutting down; reconnect to keep receiving bundle updates',
      });
    } finally {
      agent.close();
      await ca.close();
    }
  });
});
