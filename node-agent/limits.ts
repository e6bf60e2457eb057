import {
  readGrpcListenerLimits,
  readHttpListenerLimits,
  type GrpcListenerLimits,
  type HttpListenerLimits,
} from '../core/listener-limits.js';
import { rejectUnknownKeys } from '../core/config-values.js';

/** The node agent's `limits:` section: caps on the workload sockets (each) and the ops listener. */
export interface AgentLimitsConfig {
  workloadSockets: GrpcListenerLimits;
  ops: HttpListenerLimits;
}

/**
 * A Kubernetes node's one socket serves every Envoy on it (one connection each, 110 pods by default and the
 * agent is benchmarked with 1,000), so 2,048 connections. Envoy multiplexes every SDS subscription (one
 * stream per secret name) on its one connection, and a gateway holds hundreds of them, so 1,000 streams per
 * connection. Envoy's first DiscoveryRequest carries its node metadata, well under 1 MiB.
 */
export const AGENT_LIMIT_DEFAULTS = {
  workloadSockets: { maxConnections: 2048, maxConcurrentStreams: 1000, maxMessageSize: '1MiB', maxConnectionIdle: '5m' },
  ops: { maxConnections: 64, headersTimeout: '10s', requestTimeout: '10s' },
} as const;

export function readAgentLimits(raw: Record<string, unknown>): AgentLimitsConfig {
  rejectUnknownKeys('limits', raw, Object.keys(AGENT_LIMIT_DEFAULTS));
  return {
    workloadSockets: readGrpcListenerLimits('limits.workloadSockets', raw.workloadSockets, AGENT_LIMIT_DEFAULTS.workloadSockets),
    ops: readHttpListenerLimits('limits.ops', raw.ops, AGENT_LIMIT_DEFAULTS.ops),
  };
}
