import { ConfigError, durationSeconds, positiveInteger, rejectUnknownKeys, section } from '../../core/config-values.js';
import {
  readGrpcListenerLimits,
  readHttpListenerLimits,
  type GrpcListenerLimits,
  type HttpListenerLimits,
} from '../../core/listener-limits.js';
import type { RejectedTokensConfig } from '../../core/kubernetes/rejected-tokens.js';
import type { CallLimitsConfig } from './call-limits.js';
import type { RateLimitConfig } from './rate-limiter.js';

/** The CA's `limits:` section: abuse limits on every API and listener, all on by default. */
export interface CaLimitsConfig extends CallLimitsConfig {
  /** Refused service-account tokens answered from memory; undefined when off. */
  rejectedTokens: RejectedTokensConfig | undefined;
  /** listen.grpc, listen.adminSocket, listen.metrics */
  grpc: GrpcListenerLimits;
  adminSocket: GrpcListenerLimits;
  metrics: HttpListenerLimits;
}

/** Why these numbers: README.md, "Abuse limits". */
export const CA_LIMIT_DEFAULTS = {
  attestationPerIp: { rate: 20, burst: 40 },
  signingPerAgent: { rate: 500, burst: 1000 },
  signingPerIdentity: { rate: 5000, burst: 10_000 },
  queue: { maxWait: '1s', maxLength: 100 },
  trackedCallers: 10_000,
  rejectedTokens: { ttl: '60s', maxEntries: 10_000 },
  grpc: { maxConnections: 10_000, maxConcurrentStreams: 100, maxMessageSize: '256KiB', maxConnectionIdle: '5m' },
  adminSocket: { maxConnections: 64, maxConcurrentStreams: 100, maxMessageSize: '1MiB', maxConnectionIdle: '5m' },
  metrics: { maxConnections: 64, headersTimeout: '10s', requestTimeout: '10s' },
} as const;

export function readCaLimits(raw: Record<string, unknown>): CaLimitsConfig {
  const d = CA_LIMIT_DEFAULTS;
  rejectUnknownKeys('limits', raw, Object.keys(d));
  const queue = section('limits.queue', raw.queue);
  rejectUnknownKeys('limits.queue', queue, ['maxWait', 'maxLength']);
  const rejected = raw.rejectedTokens;
  return {
    attestationPerIp: readRateLimit('limits.attestationPerIp', raw.attestationPerIp, d.attestationPerIp),
    signingPerAgent: readRateLimit('limits.signingPerAgent', raw.signingPerAgent, d.signingPerAgent),
    signingPerIdentity: readRateLimit('limits.signingPerIdentity', raw.signingPerIdentity, d.signingPerIdentity),
    queue: {
      maxWaitMs: Math.round(durationSeconds('limits.queue.maxWait', queue.maxWait ?? d.queue.maxWait) * 1000),
      maxLength: positiveInteger('limits.queue.maxLength', queue.maxLength ?? d.queue.maxLength),
    },
    trackedCallers: positiveInteger('limits.trackedCallers', raw.trackedCallers ?? d.trackedCallers),
    rejectedTokens: isOff(rejected) ? undefined : readRejectedTokens(section('limits.rejectedTokens', rejected)),
    grpc: readGrpcListenerLimits('limits.grpc', raw.grpc, d.grpc),
    adminSocket: readGrpcListenerLimits('limits.adminSocket', raw.adminSocket, d.adminSocket),
    metrics: readHttpListenerLimits('limits.metrics', raw.metrics, d.metrics),
  };
}

/** `{ rate: 20, burst: 40 }` (per second), or `off`. */
function readRateLimit(key: string, value: unknown, d: { rate: number; burst: number }): RateLimitConfig | undefined {
  if (isOff(value)) return undefined;
  const raw = section(key, value);
  rejectUnknownKeys(key, raw, ['rate', 'burst']);
  const rate = raw.rate ?? d.rate;
  const ratePerSecond = typeof rate === 'number' ? rate : typeof rate === 'string' && rate.trim() !== '' ? Number(rate) : NaN;
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
    throw new ConfigError(`${key}.rate`, `expected calls per second greater than zero (e.g. 20 or 0.5), or set ${key}: off; got ${JSON.stringify(rate)}`);
  }
  return { ratePerSecond, burst: positiveInteger(`${key}.burst`, raw.burst ?? d.burst) };
}

function readRejectedTokens(raw: Record<string, unknown>): RejectedTokensConfig {
  const d = CA_LIMIT_DEFAULTS.rejectedTokens;
  rejectUnknownKeys('limits.rejectedTokens', raw, ['ttl', 'maxEntries']);
  const ttlSeconds = durationSeconds('limits.rejectedTokens.ttl', raw.ttl ?? d.ttl);
  if (ttlSeconds <= 0) throw new ConfigError('limits.rejectedTokens.ttl', 'must be greater than zero, or set limits.rejectedTokens: off');
  return { ttlMs: Math.round(ttlSeconds * 1000), maxEntries: positiveInteger('limits.rejectedTokens.maxEntries', raw.maxEntries ?? d.maxEntries) };
}

/** `off` (or false) switches a limit off; YAML, env and flags all spell it that way. */
function isOff(value: unknown): boolean {
  return value === false || value === 'off' || value === 'false';
}
