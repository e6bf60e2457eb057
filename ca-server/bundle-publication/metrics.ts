import { Counter, Gauge, type Registry } from 'prom-client';
import type { PublicationStatus, WriteResult } from './publisher.js';

/** meshid_ca_bundle_configmap_*: how the trust bundle ConfigMaps are kept, on the CA's registry. */
export class BundlePublicationMetrics {
  readonly watchFailures: Counter<'resource'>;
  private readonly writes: Counter<'result'>;
  private readonly lastWrite: Gauge;

  constructor(registry: Registry, status: () => PublicationStatus) {
    this.writes = new Counter({
      name: 'meshid_ca_bundle_configmap_writes_total',
      help: 'Writes of the trust bundle ConfigMap into a namespace, by result (applied, failed: retried with backoff).',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.watchFailures = new Counter({
      name: 'meshid_ca_bundle_configmap_watch_failures_total',
      help: 'Interrupted list/watch of the namespaces or the published ConfigMaps (retried with backoff), by resource.',
      labelNames: ['resource'] as const,
      registers: [registry],
    });
    this.lastWrite = new Gauge({
      name: 'meshid_ca_bundle_configmap_last_write_timestamp_seconds',
      help: 'When a trust bundle ConfigMap was last written successfully (Unix seconds).',
      registers: [registry],
    });
    new Gauge({
      name: 'meshid_ca_bundle_configmap_namespaces',
      help: 'Namespaces the trust bundle ConfigMap is published into.',
      registers: [registry],
      collect() {
        this.set(status().namespaces);
      },
    });
    new Gauge({
      name: 'meshid_ca_bundle_configmap_stale_namespaces',
      help: 'Namespaces whose trust bundle ConfigMap does not hold the current bundle yet (0 within seconds of a change, unless writes fail).',
      registers: [registry],
      collect() {
        this.set(status().stale);
      },
    });
  }

  written(result: WriteResult): void {
    this.writes.inc({ result });
    if (result === 'applied') this.lastWrite.setToCurrentTime();
  }
}
