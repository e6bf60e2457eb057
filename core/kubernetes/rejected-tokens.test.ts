import { describe, expect, it } from 'vitest';
import { MeshidError, unauthenticated } from '../errors.js';
import { isCredentialRefusal, RejectedTokens } from './rejected-tokens.js';
import { TokenCache } from './token-cache.js';

const refused = unauthenticated('the Kubernetes API server rejected the service-account token (no)', 'token_rejected');

describe('RejectedTokens', () => {
  it('holds a verdict for its ttl only', () => {
    const rejected = new RejectedTokens({ ttlMs: 60_000, maxEntries: 10 });
    rejected.add('k', refused, 0);
    expect(rejected.get('k', 59_999)).toBe(refused);
    expect(rejected.get('k', 60_000)).toBeUndefined();
    expect(rejected.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const rejected = new RejectedTokens({ ttlMs: 60_000, maxEntries: 2 });
    rejected.add('a', refused, 0);
    rejected.add('b', refused, 0);
    rejected.add('c', refused, 0);
    expect(rejected.size).toBe(2);
    expect(rejected.get('a', 0)).toBeUndefined();
    expect(rejected.get('c', 0)).toBe(refused);
  });

  it('counts only verdicts against a credential as refusals', () => {
    expect(isCredentialRefusal(refused)).toBe(true);
    expect(isCredentialRefusal(new MeshidError('PERMISSION_DENIED', 'pod on another node'))).toBe(true);
    expect(isCredentialRefusal(new MeshidError('UNAVAILABLE', 'api server down'))).toBe(false);
    expect(isCredentialRefusal(new Error('bug'))).toBe(false);
  });
});

describe('TokenCache with RejectedTokens', () => {
  it('answers a refused token with the same error, without loading, until the verdict lapses', async () => {
    const cache = new TokenCache<string>(10, new RejectedTokens({ ttlMs: 60_000, maxEntries: 10 }));
    let loads = 0;
    const load = async (): Promise<{ value: string; expiresAtMs: number }> => {
      loads++;
      throw refused;
    };
    for (let i = 0; i < 100; i++) await expect(cache.resolve('bad', 1_000, load)).rejects.toBe(refused);
    expect(loads).toBe(1);
    await expect(cache.resolve('bad', 61_000, load)).rejects.toBe(refused);
    expect(loads).toBe(2);
  });

  it('does not remember a failure to reach a verdict', async () => {
    const cache = new TokenCache<string>(10, new RejectedTokens({ ttlMs: 60_000, maxEntries: 10 }));
    let loads = 0;
    const down = new MeshidError('UNAVAILABLE', 'cannot reach the Kubernetes API server');
    const load = async (): Promise<{ value: string; expiresAtMs: number }> => {
      loads++;
      throw down;
    };
    await expect(cache.resolve('t', 0, load)).rejects.toBe(down);
    await expect(cache.resolve('t', 0, load)).rejects.toBe(down);
    expect(loads).toBe(2);
  });
});
