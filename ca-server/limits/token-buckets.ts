/** A token bucket's state; the rate and burst are its TokenBuckets'. */
export interface Bucket {
  /** Negative while callers wait: tokens they reserved before these accrued. */
  tokens: number;
  updatedMs: number;
  /** Callers waiting for their reserved tokens. */
  waiting: number;
}

/** What `take` answers when the caller may not have the tokens (nothing was taken). */
export const REFUSED = -1;

/**
 * Token buckets by key (a source address, an agent, an identity), all with one rate and burst. A bucket fills
 * at `ratePerSecond` up to `burst`. Taking reserves tokens even when they are not there yet, which is
 * what queues callers: each waits until its own tokens have accrued, in arrival order, and a caller who would
 * wait too long is refused at once instead of after the wait. Buckets are kept for the `maxKeys` most recently
 * used keys; one dropped is the least recently used, which if idle for burst/rate seconds is full, so
 * forgetting it changes nothing.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly maxKeys: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1) || !(maxKeys >= 1)) throw new RangeError('TokenBuckets needs rate > 0, burst >= 1, maxKeys >= 1');
    this.perMs = ratePerSecond / 1000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes `n` tokens from `key`'s bucket: 0 when they were there; else the ms until the reserved tokens
   * accrue, the caller then waits that long and calls `doneWaiting`; REFUSED when that wait would exceed
   * `maxWaitMs` or `maxWaiting` callers already wait.
   */
  take(key: string, n: number, nowMs: number, maxWaitMs: number, maxWaiting: number): number {
    const bucket = this.touch(key, nowMs);
    if (bucket.tokens >= n) {
      bucket.tokens -= n;
      return 0;
    }
    const waitMs = (n - bucket.tokens) / this.perMs;
    if (waitMs > maxWaitMs || bucket.waiting >= maxWaiting) return REFUSED;
    bucket.tokens -= n;
    bucket.waiting++;
    return waitMs;
  }

  /** Ends a wait `take` asked for. The bucket is looked up again only if it is still kept. */
  doneWaiting(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket && bucket.waiting > 0) bucket.waiting--;
  }

  /** Whether `key` has a token now; a key without a bucket has a full one. Does not create a bucket. */
  hasToken(key: string, nowMs: number): boolean {
    const bucket = this.buckets.get(key);
    return bucket === undefined || this.refill(bucket, nowMs).tokens >= 1;
  }

  /** Spends up to `n` tokens without waiting: what is there, never going into debt. */
  spend(key: string, n: number, nowMs: number): void {
    const bucket = this.touch(key, nowMs);
    if (bucket.tokens > 0) bucket.tokens = Math.max(0, bucket.tokens - n);
  }

  /** The refilled bucket of `key`, created full and made the most recently used. */
  private touch(key: string, nowMs: number): Bucket {
    const bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key); // re-insert: Map order is the LRU order
      this.buckets.set(key, bucket);
      return this.refill(bucket, nowMs);
    }
    const fresh: Bucket = { tokens: this.burst, updatedMs: nowMs, waiting: 0 };
    this.buckets.set(key, fresh);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return fresh;
  }

  private refill(bucket: Bucket, nowMs: number): Bucket {
    if (nowMs > bucket.updatedMs) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (nowMs - bucket.updatedMs) * this.perMs);
      bucket.updatedMs = nowMs;
    }
    return bucket;
  }
}
