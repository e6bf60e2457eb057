import { describe, expect, it } from 'vitest';
import {
  bool,
  ConfigError,
  durationSeconds,
  list,
  listenAddress,
  mergeLayers,
  oneOf,
  rejectUnknownKeys,
  section,
  str,
} from './config-values.js';

/** Runs `fn`, which must throw a ConfigError; returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('durationSeconds', () => {
  it.each([
    ['90s', 90],
    ['10m', 600],
    ['24h', 86_400],
    ['7d', 604_800],
    ['1h30m', 5_400],
    ['1d12h', 129_600],
    ['1500ms', 1.5],
    ['2.5h', 9_000],
    ['3600', 3_600],
    [3600, 3_600],
    [0, 0],
  ])('%j is %d seconds', (input, seconds) => {
    expect(durationSeconds('svid.maxTtl', input)).toBe(seconds);
  });

  it.each(['forever', '', ' ', '-5m', '10 m', '1h 30m', '5y', '1e3', 'h', '1h-', '10M'])(
    'refuses %j, naming the key',
    (input) => {
      const err = configError(() => durationSeconds('svid.maxTtl', input));
      expect(err.key).toBe('svid.maxTtl');
      expect(err.message).toBe(`config svid.maxTtl: expected a duration like "90s", "10m", "24h" or "7d", got ${JSON.stringify(input)}`);
    },
  );

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [null], [true], [{}]])('refuses %j', (input) => {
    expect(configError(() => durationSeconds('ttl', input)).key).toBe('ttl');
  });

  it('says "nothing" for a missing value and shortens long ones', () => {
    expect(configError(() => durationSeconds('ttl', undefined)).message).toMatch(/got nothing$/);
    expect(configError(() => durationSeconds('ttl', 'x'.repeat(200))).message).toMatch(/got "x{76}\.\.\.$/);
  });
});

describe('scalar readers', () => {
  it('str takes strings, numbers and booleans as text', () => {
    expect(str('k', 'v')).toBe('v');
    expect(str('k', 15012)).toBe('15012');
    expect(str('k', false)).toBe('false');
    expect(configError(() => str('dataDir', ['a'])).message).toBe('config dataDir: expected a string, got ["a"]');
  });

  it('bool takes true/false and 1/0 (env and flags are text)', () => {
    expect([true, 'true', '1'].map((v) => bool('k', v))).toEqual([true, true, true]);
    expect([false, 'false', '0'].map((v) => bool('k', v))).toEqual([false, false, false]);
    expect(configError(() => bool('tls', 'yes')).message).toBe('config tls: expected true or false, got "yes"');
  });

  it('oneOf lists the allowed values', () => {
    expect(oneOf('logLevel', 'debug', ['info', 'debug'] as const)).toBe('debug');
    expect(configError(() => oneOf('logLevel', 'loud', ['info', 'debug'] as const)).message).toBe(
      'config logLevel: expected one of info, debug, got "loud"',
    );
  });

  it('list takes YAML lists and comma-separated text', () => {
    expect(list('aud', ['a', 'b'])).toEqual(['a', 'b']);
    expect(list('aud', 'a, b,,c ')).toEqual(['a', 'b', 'c']);
    expect(configError(() => list('aud', ['a', {}])).key).toBe('aud[1]');
    expect(configError(() => list('aud', 5)).key).toBe('aud');
  });

  it('listenAddress reads host:port, [v6]:port and :port', () => {
    expect(listenAddress('listen.grpc', '127.0.0.1:15012')).toEqual({ host: '127.0.0.1', port: 15012 });
    expect(listenAddress('listen.grpc', '[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(listenAddress('listen.grpc', ':15014')).toEqual({ host: '0.0.0.0', port: 15014 });
    expect(listenAddress('listen.grpc', 'localhost:80')).toEqual({ host: 'localhost', port: 80 });
    for (const bad of ['15012', '127.0.0.1', '127.0.0.1:65536', 'host:port', '::1:80']) {
      expect(configError(() => listenAddress('listen.grpc', bad)).message).toBe(
        `config listen.grpc: expected "host:port" (e.g. "0.0.0.0:15012"), got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('section takes mappings and treats missing as empty', () => {
    expect(section('svid', undefined)).toEqual({});
    expect(section('svid', null)).toEqual({});
    expect(section('svid', { a: 1 })).toEqual({ a: 1 });
    expect(configError(() => section('svid', [1])).message).toBe('config svid: expected a mapping, got [1]');
    expect(configError(() => section('svid', '1h')).key).toBe('svid');
  });
});

describe('rejectUnknownKeys', () => {
  it('names the unknown key with its prefix and lists the known ones', () => {
    expect(() => rejectUnknownKeys('svid', { maxTtl: '1h' }, ['maxTtl', 'defaultTtl'])).not.toThrow();
    const err = configError(() => rejectUnknownKeys('svid', { maxTTL: '1h' }, ['maxTtl', 'defaultTtl']));
    expect(err.key).toBe('svid.maxTTL');
    expect(err.message).toBe('config svid.maxTTL: unknown setting (known: maxTtl, defaultTtl)');
    expect(configError(() => rejectUnknownKeys('', { trustdomain: 'x' }, ['trustDomain'])).key).toBe('trustdomain');
  });
});

describe('mergeLayers', () => {
  it('file < env < flags, with env names mapped to nested camelCase keys', () => {
    const file = { svid: { maxTtl: '24h', defaultTtl: '1h' }, trustDomain: 'file.example' };
    const env = { MESHID_SVID__MAX_TTL: '12h', MESHID_TRUST_DOMAIN: 'env.example', MESHID_LISTEN__ADMIN_SOCKET: '/run/a.sock', HOME: '/root' };
    const flags = { 'svid.maxTtl': '6h', 'kubernetes.mode': 'jwt' };
    expect(mergeLayers(file, env, 'MESHID_', flags)).toEqual({
      svid: { maxTtl: '6h', defaultTtl: '1h' },
      trustDomain: 'env.example',
      listen: { adminSocket: '/run/a.sock' },
      kubernetes: { mode: 'jwt' },
    });
  });

  it('does not modify the file layer', () => {
    const file = { svid: { maxTtl: '24h' } };
    mergeLayers(file, { MESHID_SVID__MAX_TTL: '1h' }, 'MESHID_', {});
    expect(file).toEqual({ svid: { maxTtl: '24h' } });
  });

  it('a nested value replaces a scalar or list at its parent path', () => {
    expect(mergeLayers({ svid: '1h', listen: ['x'] }, {}, 'MESHID_', { 'svid.maxTtl': '2h', 'listen.grpc': ':1' })).toEqual({
      svid: { maxTtl: '2h' },
      listen: { grpc: ':1' },
    });
  });
});

describe('mergeLayers refuses keys that would reach object prototypes', () => {
  it.each(['__proto__.polluted', 'svid.constructor.x', 'a..b'])('--%s', (key) => {
    expect(() => mergeLayers({}, {}, 'MESHID_', { [key]: '1' })).toThrow(ConfigError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
