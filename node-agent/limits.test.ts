import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config-values.js';
import { loadNodeAgentConfig, readNodeAgentConfig } from './config.js';

describe('limits (node agent)', () => {
  it('cap the workload sockets and the ops listener by default', () => {
    expect(readNodeAgentConfig({}).limits).toEqual({
      workloadSockets: { maxConnections: 2048, maxConcurrentStreams: 1000, maxMessageBytes: 1024 * 1024, maxConnectionIdleMs: 300_000 },
      ops: { maxConnections: 64, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
    });
  });

  it('are set from env and flags and validated like the CA\'s', () => {
    const config = loadNodeAgentConfig({
      env: { MESHID_AGENT_LIMITS__WORKLOAD_SOCKETS__MAX_CONNECTIONS: '500' },
      flags: { 'limits.ops.requestTimeout': '30s' },
    });
    expect(config.limits.workloadSockets.maxConnections).toBe(500);
    expect(config.limits.ops.requestTimeoutMs).toBe(30_000);
    expect(() => readNodeAgentConfig({ limits: { workloadSockets: { maxConcurrentStreams: 'many' } } })).toThrow(
      new ConfigError('limits.workloadSockets.maxConcurrentStreams', 'expected a whole number of at least 1, got "many"'),
    );
    expect(() => readNodeAgentConfig({ limits: { authz: {} } })).toThrow(/config limits\.authz: unknown setting \(known: workloadSockets, ops\)/);
  });
});
