import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelayMs } from './backoff.js';

describe('Backoff', () => {
  it('doubles from the initial delay up to the maximum, with each delay in [base/2, base]', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    expect(Array.from({ length: 6 }, () => low.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const high = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
    expect(Array.from({ length: 6 }, () => high.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(high.failures).toBe(6);
  });

  it('starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('without jitter answers the base delay and never calls random', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, jitter: false }, () => {
      throw new Error('random called');
    });
    expect(Array.from({ length: 7 }, () => backoff.next())).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });
});

describe('backoffDelayMs', () => {
  it('is initialMs * 2^attempt capped at maxMs, for any attempt (the retry formulas it replaced)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 10 ** 7 }), fc.integer({ min: 1, max: 10 ** 9 }), (attempt, initialMs, maxMs) =>
        backoffDelayMs(attempt, { initialMs, maxMs }) === Math.min(maxMs, initialMs * 2 ** attempt),
      ),
    );
  });
});
