import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renewalDelayMs } from '../../node-agent/timing.js';

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
