import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, renewalDelayMs } from '../../node-agent/timing.js';

describe('renewalDelayMs', () => {
  const policy = { fraction: 0.5, jitter: 0.1 };

  it('renews at the fraction of the lifetime counted from issuance, plus or minus the jitter', () => {
    const issuedAt = new Date(1_000_000);
    const notAfter = new Date(1_000_000 + 100_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, policy, 1_000_000, () => 0.5)).toBe(50_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, policy, 1_000_000, () => 0)).toBe(40_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, policy, 1_000_000, () => 1)).toBe(60_000);
    // Already half-way: what is left of the delay.
    expect(renewalDelayMs({ issuedAt, notAfter }, policy, 1_030_000, () => 0.5)).toBe(20_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, policy, 1_090_000, () => 0.5)).toBe(0);
  });

  it('always lands inside the lifetime window [fraction - jitter, fraction + jitter]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 10 ** 9 }), fc.double({ min: 0, max: 1, noNaN: true }), (lifetime, r) => {
        const delay = renewalDelayMs({ issuedAt: new Date(0), notAfter: new Date(lifetime) }, policy, 0, () => r);
        return delay >= lifetime * 0.4 - 1e-6 && delay <= lifetime * 0.6 + 1e-6;
      }),
    );
  });
});

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
});
