import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export type SvidKind = 'agent' | 'workload';

/** What the metrics read at scrape time. */
export interface AgentMetricsSources {
  cachedSvids(): number;
  earliestExpiry(kind: SvidKind): Date | undefined;
}

/**
 * The node agent's core metrics, on their own registry; the workload endpoints (SDS, Workload API, sockets)
 * register their stream and call metrics on the same registry.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  readonly rotations = new Counter({
    name: 'meshid_agent_svid_rotations_total',
    help: 'SVIDs renewed, by kind (agent, workload).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly rotationFailures = new Counter({
    name: 'meshid_agent_svid_rotation_failures_total',
    help: 'Failed attestations or renewals, by kind and reason (e.g. ca_unavailable).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly bundleUpdates = new Counter({
    name: 'meshid_agent_bundle_updates_total',
    help: 'Trust bundle changes received from the CA.',
    registers: [this.registry],
  });

  readonly policyUpdates = new Counter({
    name: 'meshid_agent_policy_updates_total',
    help: 'Authorization policy sets from the CA, by result (applied, rejected: invalid here, the last good set stays).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'meshid_rate_limited_total',
    help: 'Connections refused by a listener cap, by limit (its limits.* key, e.g. workloadSockets.maxConnections).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(sources: AgentMetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'meshid_agent_' });
    new Gauge({
      name: 'meshid_agent_svids_cached',
      help: 'Workload X509-SVIDs held in the cache.',
      registers: [this.registry],
      collect() {
        this.set(sources.cachedSvids());
      },
    });
    new Gauge({
      name: 'meshid_agent_svid_expiry_seconds',
      help: 'Seconds until the earliest expiry among SVIDs of a kind (agent, workload); negative once expired.',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const kind of ['agent', 'workload'] as const) {
          const expiry = sources.earliestExpiry(kind);
          if (expiry) this.set({ kind }, (expiry.getTime() - Date.now()) / 1000);
        }
      },
    });
  }
}
