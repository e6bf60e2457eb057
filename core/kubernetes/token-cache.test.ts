import { describe, expect, it } from 'vitest';
import { TokenCache } from './token-cache.js';

/** A load whose completion the test controls, counting how often it is started. */
function controlledLoad<V>() {
  const state = { calls: 0, resolve: (_v: { value: V; expiresAtMs: number }) => {}, reject: (_e: Error) => {} };
  const load = () => {
    state.calls++;
    return new Promise<{ value: V; expiresAtMs: number }>((resolve, reject) => Object.assign(state, { resolve, reject }));
  };
  return { state, load };
}

describe('TokenCache', () => {
  it('serves a value until its expiry, then loads again', async () => {
    const cache = new TokenCache<string>(10);
    let loads = 0;
    const load = async () => ({ value: `v${++loads}`, expiresAtMs: 1_000 });
    expect(await cache.resolve('t', 0, load)).toBe('v1');
    expect(await cache.resolve('t', 999, load)).toBe('v1');
    expect(await cache.resolve('t', 1_000, load)).toBe('v2');
  });

  it('does not store a value that is already expired when its load finishes', async () => {
    const cache = new TokenCache<string>(10);
    await cache.resolve('t', 5_000, async () => ({ value: 'stale', expiresAtMs: 5_000 }));
    expect(cache.size).toBe(0);
  });

  it('shares one in-flight load among concurrent callers, including its failure, and caches no failure', async () => {
    const cache = new TokenCache<string>(10);
    const { state, load } = controlledLoad<string>();
    const callers = [cache.resolve('t', 0, load), cache.resolve('t', 0, load), cache.resolve('t', 0, load)];
    expect(state.calls).toBe(1);
    state.reject(new Error('api server down'));
    for (const c of callers) await expect(c).rejects.toThrow('api server down');
    expect(cache.size).toBe(0);

    const retry = cache.resolve('t', 0, load);
    expect(state.calls).toBe(2);
    state.resolve({ value: 'ok', expiresAtMs: 10 });
    expect(await retry).toBe('ok');
  });

  it('keeps different tokens apart', async () => {
    const cache = new TokenCache<string>(10);
    expect(await cache.resolve('a', 0, async () => ({ value: 'A', expiresAtMs: 10 }))).toBe('A');
    expect(await cache.resolve('b', 0, async () => ({ value: 'B', expiresAtMs: 10 }))).toBe('B');
    expect(cache.size).toBe(2);
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = new TokenCache<string>(2);
    const loaded: string[] = [];
    const load = (v: string) => async () => {
      loaded.push(v);
      return { value: v, expiresAtMs: 10 };
    };
    await cache.resolve('a', 0, load('a'));
    await cache.resolve('b', 0, load('b'));
    await cache.resolve('a', 0, load('a'));
    await cache.resolve('c', 0, load('c'));
    await cache.resolve('a', 0, load('a'));
    await cache.resolve('b', 0, load('b'));
    expect(loaded).toEqual(['a', 'b', 'c', 'b']);
    expect(cache.size).toBe(2);
  });

  it('rejects a non-positive bound', () => {
    expect(() => new TokenCache(0)).toThrow(RangeError);
  });
});
