import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ROOT_ROTATION_PHASES, type AuthorityStatus, type RootRotationPhase } from './authority/root-rotation-state.js';

/** What the scrape-time gauges read; called only while /metrics is served, after the server started. */
export interface CaMetricSources {
  /** The active root and signing CA. */
  expiries(): { root: Date; intermediate: Date };
  authorities(): AuthorityStatus[];
  rootRotationPhase(): RootRotationPhase;
  /** Active agents whose last acknowledged bundle is not the current one. */
  staleAgents(): Promise<number>;
}

/** The CA server's Prometheus metrics, on their own registry so several servers can share a process (tests). */
export class CaMetrics {
  readonly registry = new Registry();

  readonly csrs = new Counter({
    name: 'meshid_ca_csr_total',
    help: 'Certificate signing requests by API and result (issued, or the gRPC status of the refusal).',
    labelNames: ['api', 'result'] as const,
    registers: [this.registry],
  });

  readonly signingSeconds = new Histogram({
    name: 'meshid_ca_signing_duration_seconds',
    help: 'Time to validate a CSR and sign the X509-SVID.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    registers: [this.registry],
  });

  readonly jwtSvids = new Counter({
    name: 'meshid_ca_jwt_svid_total',
    help: 'JWT-SVID requests by result (issued, or the gRPC status of the refusal).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'meshid_ca_authentication_failures_total',
    help: 'Failed caller authentications by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'meshid_rate_limited_total',
    help: 'Calls and connections refused by an abuse limit, by limit (its limits.* key, e.g. attestationPerIp, grpc.maxConnections).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(sources: CaMetricSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'meshid_ca_' });
    new Gauge({
      name: 'meshid_ca_authority_expiry_timestamp_seconds',
      help: 'NotAfter of the active root and intermediate signing CA (Unix seconds).',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      // Read at scrape time, so rotation shows without extra bookkeeping.
      collect() {
        const e = sources.expiries();
        this.set({ kind: 'root' }, e.root.getTime() / 1000);
        this.set({ kind: 'intermediate' }, e.intermediate.getTime() / 1000);
      },
    });
    new Gauge({
      name: 'meshid_ca_authorities_expiry_timestamp_seconds',
      help: 'NotAfter of every root and signing CA meshid knows (Unix seconds), by id, kind and state (prepared, active, old, retired).',
      labelNames: ['id', 'kind', 'state'] as const,
      registers: [this.registry],
      collect() {
        this.reset(); // authorities come and go; drop series of those no longer listed
        for (const a of sources.authorities()) this.set({ id: a.id, kind: a.kind, state: a.state }, a.notAfter.getTime() / 1000);
      },
    });
    new Gauge({
      name: 'meshid_ca_root_rotation_state',
      help: 'Root rotation phase: 1 for the current one of idle, prepared (new root published, not signing), activated (old root still published).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const phase = sources.rootRotationPhase();
        for (const state of ROOT_ROTATION_PHASES) this.set({ state }, state === phase ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meshid_ca_agents_stale_bundle',
      help: 'Active agents that have not acknowledged the current trust bundle (should fall to 0 within seconds of a change).',
      registers: [this.registry],
      async collect() {
        this.set(await sources.staleAgents());
      },
    });
  }
}
