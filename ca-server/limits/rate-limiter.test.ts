import { describe, expect, it } from 'vitest';
import { MeshidError } from '../../core/errors.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { RateLimiter, type RateLimiterOptions } from './rate-limiter.js';

function limiter(over: Partial<RateLimiterOptions> = {}) {
  const clock = new FakeClock();
  const refused: string[] = [];
  const options: RateLimiterOptions = {
    name: 'attestationPerIp',
    describe: (ip) => `attestation from ${ip}`,
    limit: { ratePerSecond: 20, burst: 2 },
    queue: { maxWaitMs: 1000, maxLength: 100 },
    maxKeys: 100,
    clock,
    onRefused: (name) => refused.push(name),
    ...over,
  };
  return { limiter: new RateLimiter(options), clock, refused };
}

function refusal(run: () => unknown): MeshidError {
  try {
    run();
  } catch (err) {
    if (err instanceof MeshidError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('RateLimiter', () => {
  it('answers within the burst synchronously, without a promise', () => {
    const { limiter: l } = limiter();
    expect(l.take('10.1.2.3')).toBeUndefined();
    expect(l.take('10.1.2.3')).toBeUndefined();
  });

  it('queues a caller over the burst until its token has accrued', async () => {
    const { limiter: l, clock } = limiter();
    l.take('10.1.2.3');
    l.take('10.1.2.3');
    let served = false;
    const waiting = l.take('10.1.2.3')!.then(() => (served = true));
    expect(clock.sleeping).toBe(1);
    clock.advance(49);
    await Promise.resolve();
    expect(served).toBe(false);
    clock.advance(1);
    await waiting;
    expect(served).toBe(true);
  });

  it('refuses with RESOURCE_EXHAUSTED naming the caller, the limit and its setting when the wait would be too long', () => {
    const { limiter: l, refused } = limiter({ queue: { maxWaitMs: 0, maxLength: 100 } });
    l.take('10.1.2.3');
    l.take('10.1.2.3');
    const err = refusal(() => l.take('10.1.2.3'));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.reason).toBe('rate_limited');
    expect(err.message).toBe('rate limit for attestation from 10.1.2.3 exceeded: 20/s burst 2 (limits.attestationPerIp); retry later');
    expect(refused).toEqual(['attestationPerIp']);
  });

  it('frees a queue place once a waiter is served', async () => {
    const { limiter: l, clock } = limiter({ limit: { ratePerSecond: 10, burst: 1 }, queue: { maxWaitMs: 10_000, maxLength: 1 } });
    l.take('a');
    const first = l.take('a')!;
    expect(refusal(() => l.take('a')).code).toBe('RESOURCE_EXHAUSTED');
    clock.advance(100);
    await first;
    expect(l.take('a')).toBeInstanceOf(Promise);
  });

  it('refuseIfSpent takes nothing; spend charges after the fact', () => {
    const { limiter: l } = limiter();
    l.refuseIfSpent('10.1.2.3');
    l.refuseIfSpent('10.1.2.3');
    l.refuseIfSpent('10.1.2.3');
    l.spend('10.1.2.3');
    l.spend('10.1.2.3');
    expect(refusal(() => l.refuseIfSpent('10.1.2.3')).message).toMatch(/^rate limit for attestation from 10\.1\.2\.3 exceeded/);
  });
});
