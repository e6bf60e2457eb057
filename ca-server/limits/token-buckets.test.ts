import { describe, expect, it } from 'vitest';
import { REFUSED, TokenBuckets } from './token-buckets.js';

const NO_WAIT = { maxWaitMs: 0, maxWaiting: 100 };
const take = (b: TokenBuckets, key: string, nowMs: number, n = 1, queue = NO_WAIT) => b.take(key, n, nowMs, queue.maxWaitMs, queue.maxWaiting);

describe('TokenBuckets', () => {
  it('grants the burst at once, then one token per 1/rate seconds', () => {
    const buckets = new TokenBuckets(10, 3, 100);
    expect([take(buckets, 'a', 0), take(buckets, 'a', 0), take(buckets, 'a', 0)]).toEqual([0, 0, 0]);
    expect(take(buckets, 'a', 0)).toBe(REFUSED);
    expect(take(buckets, 'a', 99)).toBe(REFUSED);
    expect(take(buckets, 'a', 100)).toBe(0);
    expect(take(buckets, 'a', 100)).toBe(REFUSED);
  });

  it('never holds more than the burst, however long it was idle', () => {
    const buckets = new TokenBuckets(10, 2, 100);
    take(buckets, 'a', 0);
    const grants = [0, 1, 2].map(() => take(buckets, 'a', 3_600_000));
    expect(grants).toEqual([0, 0, REFUSED]);
  });

  it('queues callers in arrival order: each waits until its own reserved token has accrued', () => {
    const buckets = new TokenBuckets(10, 1, 100);
    const queue = { maxWaitMs: 1000, maxWaiting: 100 };
    expect(take(buckets, 'a', 0, 1, queue)).toBe(0);
    expect(take(buckets, 'a', 0, 1, queue)).toBeCloseTo(100);
    expect(take(buckets, 'a', 0, 1, queue)).toBeCloseTo(200);
    expect(take(buckets, 'a', 50, 1, queue)).toBeCloseTo(250);
  });

  it('refuses at once, taking nothing, a caller who would wait longer than maxWait', () => {
    const buckets = new TokenBuckets(10, 1, 100);
    const queue = { maxWaitMs: 150, maxWaiting: 100 };
    take(buckets, 'a', 0, 1, queue);
    expect(take(buckets, 'a', 0, 1, queue)).toBeCloseTo(100);
    expect(take(buckets, 'a', 0, 1, queue)).toBe(REFUSED);
    // the refused caller reserved nothing: the next token is still 100 ms after the queued one
    expect(take(buckets, 'a', 100, 1, queue)).toBeCloseTo(100);
  });

  it('bounds the queue length per key with maxWaiting', () => {
    const buckets = new TokenBuckets(1000, 1, 100);
    const queue = { maxWaitMs: 10_000, maxWaiting: 2 };
    take(buckets, 'a', 0, 1, queue);
    expect(take(buckets, 'a', 0, 1, queue)).toBeGreaterThan(0);
    expect(take(buckets, 'a', 0, 1, queue)).toBeGreaterThan(0);
    expect(take(buckets, 'a', 0, 1, queue)).toBe(REFUSED);
    buckets.doneWaiting('a');
    expect(take(buckets, 'a', 0, 1, queue)).toBeGreaterThan(0);
  });

  it('charges a batch by its size, and lets a batch larger than the burst wait for its tokens', () => {
    const buckets = new TokenBuckets(100, 10, 100);
    expect(take(buckets, 'a', 0, 8)).toBe(0);
    expect(take(buckets, 'a', 0, 3)).toBe(REFUSED);
    expect(take(buckets, 'a', 0, 2)).toBe(0);
    expect(take(buckets, 'b', 0, 15, { maxWaitMs: 100, maxWaiting: 100 })).toBeCloseTo(50);
  });

  it('keeps keys apart', () => {
    const buckets = new TokenBuckets(1, 1, 100);
    expect(take(buckets, 'a', 0)).toBe(0);
    expect(take(buckets, 'b', 0)).toBe(0);
    expect(take(buckets, 'a', 0)).toBe(REFUSED);
  });

  it('keeps at most maxKeys buckets, dropping the least recently used', () => {
    const buckets = new TokenBuckets(1, 1, 2);
    take(buckets, 'a', 0);
    take(buckets, 'b', 0);
    take(buckets, 'a', 0); // a is the most recently used
    take(buckets, 'c', 0); // drops b
    expect(buckets.size).toBe(2);
    expect(take(buckets, 'a', 0)).toBe(REFUSED);
    expect(take(buckets, 'b', 0)).toBe(0); // forgotten: a full bucket again
  });

  it('spends without waiting or going into debt, and hasToken looks without creating a bucket', () => {
    const buckets = new TokenBuckets(10, 2, 100);
    expect(buckets.hasToken('a', 0)).toBe(true);
    expect(buckets.size).toBe(0);
    buckets.spend('a', 1, 0);
    expect(buckets.hasToken('a', 0)).toBe(true);
    buckets.spend('a', 1, 0);
    buckets.spend('a', 1, 0);
    expect(buckets.hasToken('a', 0)).toBe(false);
    expect(buckets.hasToken('a', 100)).toBe(true);
  });

  it('rejects a rate, burst or key bound it cannot work with', () => {
    expect(() => new TokenBuckets(0, 1, 1)).toThrow(RangeError);
    expect(() => new TokenBuckets(1, 0, 1)).toThrow(RangeError);
    expect(() => new TokenBuckets(1, 1, 0)).toThrow(RangeError);
  });
});
