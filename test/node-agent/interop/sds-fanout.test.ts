// SDS at scale on the agent's socket: first-certificate latency for new workloads (each one a fresh key,
// CSR and CA signature) and a bundle change pushed to 1,000 open streams. Prints the measured numbers.
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretDiscoveryServiceClient } from '../../../protos/gen/envoy/service/secret/v3/SecretDiscoveryService.js';
import { startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { TRUST_DOMAIN } from './support/ca-identity-source.js';
import { SdsStreamClient, sdsClient, workloadMetadata } from './support/clients.js';

const WORKLOADS = 200;
const STREAMS = 1000;
const CHANNELS = 10;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`;
};

describe('SDS latency and fan-out on the agent socket', () => {
  let agent: AgentFixture;
  let clients: SecretDiscoveryServiceClient[];

  beforeAll(async () => {
    agent = await startAgentFixture({ mode: 'k8s' });
    for (let i = 0; i < WORKLOADS; i++) agent.source.register({ token: `token-${i}` }, [`spiffe://${TRUST_DOMAIN}/ns/load/sa/w${i}`]);
    agent.source.register({ token: 'token-fanout' }, [`spiffe://${TRUST_DOMAIN}/ns/load/sa/fanout`]);
    clients = Array.from({ length: CHANNELS }, () => sdsClient(agent.endpoints.socketPath([])));
  });

  afterAll(async () => {
    for (const client of clients ?? []) client.close();
    await agent?.close();
  });

  const firstCertificate = async (token: string) => {
    const stream = new SdsStreamClient(clients[0]!, workloadMetadata({ authorization: `Bearer ${token}` }, false));
    const started = performance.now();
    stream.request(['default']);
    const response = await stream.waitFor(1);
    const elapsed = performance.now() - started;
    stream.cancel();
    expect(response.resources[0]!.tls_certificate).toBeDefined();
    return elapsed;
  };

  it(`serves ${WORKLOADS} new workloads their first certificate (key + CSR + CA signature each)`, async () => {
    await firstCertificate('token-fanout'); // warm up code paths
    const cold: number[] = [];
    for (let i = 0; i < WORKLOADS; i++) cold.push(await firstCertificate(`token-${i}`));
    const warm: number[] = [];
    for (let i = 0; i < WORKLOADS; i++) warm.push(await firstCertificate(`token-${i}`));
    expect(agent.source.minted).toBe(WORKLOADS + 1);
    console.log(`[sds-fanout] first certificate, new workload: ${summary(cold)}`);
    console.log(`[sds-fanout] first certificate, SVID already cached: ${summary(warm)}`);
  });

  it(`pushes a bundle change to ${STREAMS} open streams`, async () => {
    const metadata = workloadMetadata({ authorization: 'Bearer token-fanout' }, false);
    const streams = Array.from({ length: STREAMS }, (_, i) => new SdsStreamClient(clients[i % CHANNELS]!, metadata));
    for (const stream of streams) stream.request(['ALL']);
    await Promise.all(streams.map((s) => s.waitFor(1)));
    for (const stream of streams) stream.answer(['ALL']);
    expect(await agent.metric('meshid_agent_sds_streams')).toBe(STREAMS);

    const started = performance.now();
    agent.source.setFederatedBundle('spiffe://partner.test', agent.source.ownBundle().rootsDer);
    const pushed = await Promise.all(streams.map((s) => s.waitFor(2)));
    const elapsed = performance.now() - started;

    for (const response of pushed) {
      const domains = response.resources[0]!.validation_context!.custom_validator_config!.typed_config.trust_domains.map((t) => t.name);
      expect(domains).toEqual([TRUST_DOMAIN, 'partner.test']);
    }
    console.log(`[sds-fanout] bundle change reached all ${STREAMS} streams in ${elapsed.toFixed(1)} ms`);
    for (const stream of streams) stream.cancel();
  });
});
