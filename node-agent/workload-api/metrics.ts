import { Counter, Gauge, type Registry } from 'prom-client';

/** SPIFFE Workload API metrics, registered on `registry` when one is given. */
export class WorkloadApiMetrics {
  readonly streams: Gauge<'rpc'>;
  readonly calls: Counter<'rpc' | 'result'>;
  readonly pushes: Counter<'rpc'>;

  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.streams = new Gauge({
      name: 'meshid_agent_workload_api_streams',
      help: 'Open Workload API streams by RPC.',
      labelNames: ['rpc'] as const,
      registers,
    });
    this.calls = new Counter({
      name: 'meshid_agent_workload_api_calls_total',
      help: 'Workload API calls by RPC and result (ok, or the gRPC status they were refused with).',
      labelNames: ['rpc', 'result'] as const,
      registers,
    });
    this.pushes = new Counter({
      name: 'meshid_agent_workload_api_pushes_total',
      help: 'Workload API stream messages sent after the first (rotations, bundle changes).',
      labelNames: ['rpc'] as const,
      registers,
    });
  }
}
