import { setTimeout as sleep } from 'node:timers/promises';
import { MeshidError } from '../../core/errors.js';
import { REFUSED, TokenBuckets } from './token-buckets.js';

export interface RateLimitConfig {
  ratePerSecond: number;
  burst: number;
}

/** How long and how many callers of one key may wait for tokens before they are refused. */
export interface QueueConfig {
  maxWaitMs: number;
  maxLength: number;
}

/** Time source of the limiters; tests pass a fake one. */
export interface LimiterClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const SYSTEM_CLOCK: LimiterClock = { now: () => performance.now(), sleep: (ms) => sleep(ms) };

export interface RateLimiterOptions {
  /** The limits.* key (e.g. "attestationPerIp"): named in refusals and the metric label. */
  name: string;
  /** Says what a key's calls are, for refusals: (ip) => `attestation from ${ip}`. */
  describe: (key: string) => string;
  limit: RateLimitConfig;
  queue: QueueConfig;
  /** Buckets kept (least recently used dropped first). */
  maxKeys: number;
  clock: LimiterClock;
  /** Runs with `name` for every refusal (the meshid_rate_limited_total counter). */
  onRefused: (name: string) => void;
}

/**
 * One named per-caller rate limit: token buckets by key, callers queued briefly when theirs is empty, and
 * RESOURCE_EXHAUSTED naming the limit and its setting when they cannot be served in time.
 */
export class RateLimiter {
  private readonly buckets: TokenBuckets;

  constructor(private readonly options: RateLimiterOptions) {
    this.buckets = new TokenBuckets(options.limit.ratePerSecond, options.limit.burst, options.maxKeys);
  }

  /**
   * Takes `n` tokens for `key`. Returns undefined when they were there (the common case: no promise), a
   * promise that resolves once the caller's turn has come, or throws RESOURCE_EXHAUSTED.
   */
  take(key: string, n = 1): Promise<void> | undefined {
    const { clock, queue } = this.options;
    const waitMs = this.buckets.take(key, n, clock.now(), queue.maxWaitMs, queue.maxLength);
    if (waitMs === 0) return undefined;
    if (waitMs === REFUSED) throw this.refusal(key);
    return clock.sleep(waitMs).finally(() => this.buckets.doneWaiting(key));
  }

  /** Throws RESOURCE_EXHAUSTED if `key` has no token left; takes none. */
  refuseIfSpent(key: string): void {
    if (!this.buckets.hasToken(key, this.options.clock.now())) throw this.refusal(key);
  }

  /** Spends a token for `key` without waiting (a cost found out after the fact, e.g. a refused credential). */
  spend(key: string): void {
    this.buckets.spend(key, 1, this.options.clock.now());
  }

  private refusal(key: string): MeshidError {
    const { name, describe, limit, onRefused } = this.options;
    onRefused(name);
    return new MeshidError(
      'RESOURCE_EXHAUSTED',
      `rate limit for ${describe(key)} exceeded: ${limit.ratePerSecond}/s burst ${limit.burst} (limits.${name}); retry later`,
      'rate_limited',
    );
  }
}
