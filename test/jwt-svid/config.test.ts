import { describe, expect, it } from 'vitest';
import { loadCaServerConfig, readCaServerConfig } from '../../ca-server/config.js';

describe('jwt configuration', () => {
  it('defaults to ES256, 5 minute tokens, at most 1 hour, a new key every day', () => {
    expect(readCaServerConfig({}).jwt).toEqual({
      keyAlgorithm: 'ES256',
      defaultTtlSeconds: 300,
      maxTtlSeconds: 3600,
      keyLifetimeSeconds: 86400,
    });
  });

  it('reads every key from the environment and flags', () => {
    const config = loadCaServerConfig({
      env: { MESHID_JWT__KEY_ALGORITHM: 'ES384', MESHID_JWT__MAX_TTL: '2h' },
      flags: { 'jwt.defaultTtl': '10m', 'jwt.keyLifetime': '12h' },
    });
    expect(config.jwt).toEqual({ keyAlgorithm: 'ES384', defaultTtlSeconds: 600, maxTtlSeconds: 7200, keyLifetimeSeconds: 43200 });
  });

  it.each([
    [{ keyAlgorithm: 'HS256' }, 'config jwt.keyAlgorithm: expected one of ES256, ES384, RS256, PS256, got "HS256"'],
    [{ defaultTtl: '2h' }, 'config jwt.defaultTtl: must not exceed jwt.maxTtl (3600s)'],
    [{ maxTtl: '0s' }, 'config jwt.maxTtl: must be greater than zero'],
    [{ defaultTtl: '1500ms' }, 'config jwt.defaultTtl: must be a whole number of seconds, got 1.5s'],
    [{ keyLifetime: '30m' }, 'config jwt.keyLifetime: must be at least 1m and at least jwt.maxTtl (3600s)'],
    [{ ttl: '5m' }, 'config jwt.ttl: unknown setting (known: keyAlgorithm, defaultTtl, maxTtl, keyLifetime)'],
  ])('rejects %j naming the key', (jwt, message) => {
    expect(() => readCaServerConfig({ jwt })).toThrow(message);
  });
});
