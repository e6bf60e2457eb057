import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-values.js';
import { loadCaServerConfig, readCaServerConfig } from '../config.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('limits (CA)', () => {
  it('are all on by default', () => {
    expect(readCaServerConfig({}).limits).toEqual({
      attestationPerIp: { ratePerSecond: 20, burst: 40 },
      signingPerAgent: { ratePerSecond: 500, burst: 1000 },
      signingPerIdentity: { ratePerSecond: 5000, burst: 10_000 },
      queue: { maxWaitMs: 1000, maxLength: 100 },
      trackedCallers: 10_000,
      rejectedTokens: { ttlMs: 60_000, maxEntries: 10_000 },
      grpc: { maxConnections: 10_000, maxConcurrentStreams: 100, maxMessageBytes: 256 * 1024, maxConnectionIdleMs: 300_000 },
      adminSocket: { maxConnections: 64, maxConcurrentStreams: 100, maxMessageBytes: 1024 * 1024, maxConnectionIdleMs: 300_000 },
      metrics: { maxConnections: 64, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 },
    });
  });

  it('are set from YAML, env and flags, and switched off one by one with "off"', () => {
    const limits = loadCaServerConfig({
      env: { MESHID_LIMITS__ATTESTATION_PER_IP: 'off', MESHID_LIMITS__SIGNING_PER_AGENT__RATE: '0.5', MESHID_LIMITS__GRPC__MAX_MESSAGE_SIZE: '64KiB' },
      flags: { 'limits.signingPerIdentity.burst': '7', 'limits.rejectedTokens': 'off', 'limits.queue.maxWait': '250ms' },
    }).limits;
    expect(limits.attestationPerIp).toBeUndefined();
    expect(limits.signingPerAgent).toEqual({ ratePerSecond: 0.5, burst: 1000 });
    expect(limits.signingPerIdentity).toEqual({ ratePerSecond: 5000, burst: 7 });
    expect(limits.rejectedTokens).toBeUndefined();
    expect(limits.queue.maxWaitMs).toBe(250);
    expect(limits.grpc.maxMessageBytes).toBe(65_536);
    expect(readCaServerConfig({ limits: { signingPerAgent: false } }).limits.signingPerAgent).toBeUndefined();
  });

  it.each([
    [{ attestationPerIp: { rate: 0 } }, 'limits.attestationPerIp.rate', /greater than zero .* or set limits\.attestationPerIp: off/],
    [{ attestationPerIp: { rate: 'fast' } }, 'limits.attestationPerIp.rate', /calls per second/],
    [{ signingPerAgent: { burst: 2.5 } }, 'limits.signingPerAgent.burst', /whole number of at least 1, got 2\.5/],
    [{ signingPerAgent: { bursts: 2 } }, 'limits.signingPerAgent.bursts', /unknown setting \(known: rate, burst\)/],
    [{ signingPerIdentity: 'on' }, 'limits.signingPerIdentity', /expected a mapping/],
    [{ queue: { maxLength: 0 } }, 'limits.queue.maxLength', /at least 1/],
    [{ queue: { maxWait: 'soon' } }, 'limits.queue.maxWait', /duration/],
    [{ trackedCallers: '-1' }, 'limits.trackedCallers', /whole number/],
    [{ rejectedTokens: { ttl: '0s' } }, 'limits.rejectedTokens.ttl', /greater than zero, or set limits\.rejectedTokens: off/],
    [{ grpc: { maxMessageSize: '1GB' } }, 'limits.grpc.maxMessageSize', /expected a size like "256KiB", "4MiB" or a number of bytes, got "1GB"/],
    [{ grpc: { maxConnectionIdle: '0s' } }, 'limits.grpc.maxConnectionIdle', /greater than zero/],
    [{ adminSocket: { maxConnections: 0 } }, 'limits.adminSocket.maxConnections', /at least 1/],
    [{ metrics: { headersTimeout: '30s', requestTimeout: '10s' } }, 'limits.metrics.headersTimeout', /must not exceed limits\.metrics\.requestTimeout \(10s\)/],
    [{ perIp: 1 }, 'limits.perIp', /unknown setting \(known: attestationPerIp, signingPerAgent, signingPerIdentity, queue/],
  ])('refuses %j, naming %s', (limits, key, message) => {
    const err = configError(() => readCaServerConfig({ limits }));
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
  });
});
