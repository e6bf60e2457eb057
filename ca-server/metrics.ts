import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(expiries: () => { root: Date; intermediate: Date }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'meshid_ca_' });
    new Gauge({
      name: 'meshid_ca_authority_expiry_timestamp_seconds',
      help: 'NotAfter of the active root and intermediate signing CA (Unix seconds).',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      // Read at scrape time, so rotation shows without extra bookkeeping.
      collect() {
        const e = expiries();
        this.set({ kind: 'root' }, e.root.getTime() / 1000);
        this.set({ kind: 'intermediate' }, e.intermediate.getTime() / 1000);
      },
    });
  }
}
