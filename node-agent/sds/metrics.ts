import { Counter, Gauge, type Registry } from 'prom-client';

/** SDS metrics, registered on `registry` when one is given (without one they still count, unexported). */
export class SdsMetrics {
  readonly streams: Gauge;
  readonly pushes: Counter<'kind'>;
  readonly nacks: Counter;
  readonly errors: Counter<'rpc' | 'code'>;
  readonly fetches: Counter;

  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.streams = new Gauge({ name: 'meshid_agent_sds_streams', help: 'Open SDS StreamSecrets streams.', registers });
    this.pushes = new Counter({
      name: 'meshid_agent_sds_pushes_total',
      help: 'SDS responses sent on streams: the first of a stream (initial) or a pushed change (update).',
      labelNames: ['kind'] as const,
      registers,
    });
    this.nacks = new Counter({
      name: 'meshid_agent_sds_nacks_total',
      help: 'SDS responses Envoy rejected (NACK with error_detail).',
      registers,
    });
    this.errors = new Counter({
      name: 'meshid_agent_sds_errors_total',
      help: 'SDS calls refused or streams ended with an error, by RPC and gRPC status.',
      labelNames: ['rpc', 'code'] as const,
      registers,
    });
    this.fetches = new Counter({ name: 'meshid_agent_sds_fetches_total', help: 'Answered FetchSecrets calls.', registers });
  }
}
