import { Counter, type Registry } from 'prom-client';

export const UPSTREAM_FAILURES_METRIC = 'meshid_ca_upstream_failures_total';

/** Records one failure of an upstream authority under a short, stable reason label. */
export type FailureRecorder = (reason: string) => void;

/**
 * Counts upstream failures (mint refused or unreachable, credentials not renewed, a bad reload) in `registry`,
 * labelled by upstream and reason, so an alert fires long before the active signing CA runs out. Without a
 * registry nothing is counted.
 */
export function upstreamFailureRecorder(upstream: string, registry: Registry | undefined): FailureRecorder {
  if (!registry) return () => undefined;
  const counter =
    (registry.getSingleMetric(UPSTREAM_FAILURES_METRIC) as Counter<'upstream' | 'reason'> | undefined) ??
    new Counter({
      name: UPSTREAM_FAILURES_METRIC,
      help: 'Failures of the upstream authority (minting a signing CA, authenticating, reloading) by reason.',
      labelNames: ['upstream', 'reason'] as const,
      registers: [registry],
    });
  return (reason) => counter.inc({ upstream, reason });
}
