import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config-values.js';
import { loadCaServerConfig, readCaServerConfig } from './config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function yamlFile(text: string): string {
  const file = path.join(dir, `config-${++files}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The ConfigError `fn` throws: its key and message. */
function configError(fn: () => unknown): { key: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { key: (err as ConfigError).key, message: (err as ConfigError).message };
  }
  throw new Error('expected a ConfigError');
}

describe('readCaServerConfig', () => {
  it('fills in the documented defaults', () => {
    const config = readCaServerConfig({});
    expect(config.trustDomain.name).toBe('cluster.local');
    expect(config.dataDir).toBe(path.resolve('.meshid/ca'));
    expect(config.listen).toEqual({
      grpc: { host: '0.0.0.0', port: 15012 },
      metrics: { host: '0.0.0.0', port: 15014 },
      adminSocket: path.resolve('.meshid/ca/admin.sock'),
    });
    expect(config.svid).toEqual({ defaultTtlSeconds: 3600, maxTtlSeconds: 86_400, subject: '' });
    expect(config.ca).toMatchObject({ keyAlgorithm: 'ec-p256', rootTtlSeconds: 3650 * 86_400, intermediateTtlSeconds: 7 * 86_400 });
    expect(config.joinToken).toEqual({ defaultTtlSeconds: 600, maxTtlSeconds: 7 * 86_400 });
    expect(config.kubernetes.mode).toBe('disabled');
  });

  it('puts the admin socket in the data dir unless configured', () => {
    expect(readCaServerConfig({ dataDir: '/var/lib/meshid' }).listen.adminSocket).toBe('/var/lib/meshid/admin.sock');
    expect(readCaServerConfig({ listen: { adminSocket: '/run/meshid/admin.sock' } }).listen.adminSocket).toBe('/run/meshid/admin.sock');
  });

  it.each([
    [{ trustDomian: 'x' }, 'trustDomian', /^config trustDomian: unknown setting \(known: trustDomain, dataDir, /],
    [{ svid: { maxTTL: '1h' } }, 'svid.maxTTL', /^config svid\.maxTTL: unknown setting \(known: defaultTtl, maxTtl, subject\)$/],
    [{ listen: { grpcs: ':1' } }, 'listen.grpcs', /unknown setting/],
    [{ kubernetes: { jwks: 'f' } }, 'kubernetes.jwks', /unknown setting/],
  ])('refuses unknown keys: %j', (raw, key, message) => {
    const err = configError(() => readCaServerConfig(raw));
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
  });

  it.each([
    [{ svid: { maxTtl: 'forever' } }, 'svid.maxTtl', 'config svid.maxTtl: expected a duration like "90s", "10m", "24h" or "7d", got "forever"'],
    [{ svid: { defaultTtl: '0s' } }, 'svid.defaultTtl', 'config svid.defaultTtl: must be greater than zero'],
    [{ svid: { defaultTtl: '2h', maxTtl: '1h' } }, 'svid.defaultTtl', 'config svid.defaultTtl: must not exceed svid.maxTtl (3600s)'],
    [{ svid: { maxTtl: '4d' } }, 'svid.maxTtl', 'config svid.maxTtl: must be at most half of ca.intermediateTtl (604800s)'],
    [{ ca: { intermediateTtl: '20y' } }, 'ca.intermediateTtl', /^config ca\.intermediateTtl: expected a duration/],
    [{ ca: { rootTtl: '1d', intermediateTtl: '2d' } }, 'ca.intermediateTtl', 'config ca.intermediateTtl: must be shorter than ca.rootTtl (86400s)'],
    [{ ca: { keyAlgorithm: 'ec-p521' } }, 'ca.keyAlgorithm', /^config ca\.keyAlgorithm: expected one of ec-p256, /],
    [{ agentSvidTtl: '-1h' }, 'agentSvidTtl', /^config agentSvidTtl: expected a duration/],
    [{ joinToken: { maxTtl: 'soon' } }, 'joinToken.maxTtl', /^config joinToken\.maxTtl: expected a duration/],
    [{ logLevel: 'loud' }, 'logLevel', 'config logLevel: expected one of trace, debug, info, warn, error, fatal, got "loud"'],
    [{ listen: { grpc: '15012' } }, 'listen.grpc', 'config listen.grpc: expected "host:port" (e.g. "0.0.0.0:15012"), got "15012"'],
    [{ trustDomain: 'Example.org' }, 'trustDomain', /^config trustDomain: /],
    [{ svid: '1h' }, 'svid', 'config svid: expected a mapping, got "1h"'],
  ])('refuses bad values, naming the key: %j', (raw, key, message) => {
    const err = configError(() => readCaServerConfig(raw));
    expect(err.key).toBe(key);
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('checks the Kubernetes attestation settings of each mode', () => {
    expect(configError(() => readCaServerConfig({ kubernetes: { mode: 'jwt', jwksFile: '/k' } })).key).toBe('kubernetes.issuer');
    expect(configError(() => readCaServerConfig({ kubernetes: { mode: 'jwt', issuer: 'https://k' } })).message).toBe(
      'config kubernetes.jwksFile: set exactly one of kubernetes.jwksFile or kubernetes.oidcDiscoveryUrl in jwt mode',
    );
    expect(configError(() => readCaServerConfig({ kubernetes: { mode: 'tokenreview', audiences: [] } })).key).toBe('kubernetes.audiences');
    expect(configError(() => readCaServerConfig({ kubernetes: { trustedNodeAccounts: ['kube-system/ok', 'no-slash'] } })).message).toBe(
      'config kubernetes.trustedNodeAccounts[1]: expected "namespace/serviceaccount", got "no-slash"',
    );
    const jwt = readCaServerConfig({ kubernetes: { mode: 'jwt', issuer: 'https://k', oidcDiscoveryUrl: 'https://k/.well-known/openid-configuration' } });
    expect(jwt.kubernetes).toMatchObject({ mode: 'jwt', audiences: ['meshid'], verifier: { issuer: 'https://k', jwksFile: '' } });
  });
});

describe('loadCaServerConfig: defaults < YAML file < MESHID_* env < flags', () => {
  const file = () =>
    yamlFile(`
trustDomain: prod.example
svid:
  defaultTtl: 30m
  maxTtl: 12h
kubernetes:
  mode: jwt
  issuer: https://kubernetes.default.svc
  jwksFile: /etc/meshid/jwks.json
  audiences: [meshid, istio-ca]
`);

  it('reads the YAML file', () => {
    const config = loadCaServerConfig({ file: file() });
    expect(config.trustDomain.name).toBe('prod.example');
    expect(config.svid).toMatchObject({ defaultTtlSeconds: 1800, maxTtlSeconds: 43_200 });
    expect(config.kubernetes.audiences).toEqual(['meshid', 'istio-ca']);
  });

  it('MESHID_SVID__MAX_TTL overrides the file, and --svid.maxTtl overrides both', () => {
    const env = { MESHID_SVID__MAX_TTL: '6h', MESHID_KUBERNETES__AUDIENCES: 'a,b' };
    expect(loadCaServerConfig({ file: file(), env }).svid.maxTtlSeconds).toBe(6 * 3600);
    expect(loadCaServerConfig({ file: file(), env }).kubernetes.audiences).toEqual(['a', 'b']);
    expect(loadCaServerConfig({ file: file(), env, flags: { 'svid.maxTtl': '2h' } }).svid.maxTtlSeconds).toBe(2 * 3600);
    expect(loadCaServerConfig({ file: file(), flags: { 'svid.maxTtl': '2h' } }).svid.maxTtlSeconds).toBe(2 * 3600);
  });

  it('a bad value from env or a flag is reported under its key', () => {
    expect(configError(() => loadCaServerConfig({ env: { MESHID_SVID__MAX_TTL: 'long' } })).key).toBe('svid.maxTtl');
    expect(configError(() => loadCaServerConfig({ env: { MESHID_SVID__MAX_TL: '1h' } })).key).toBe('svid.maxTl');
    expect(configError(() => loadCaServerConfig({ flags: { 'svid.defaultTtl': '48h' } })).key).toBe('svid.defaultTtl');
    expect(configError(() => loadCaServerConfig({ flags: { 'svid.maxTtl': '1y' } })).key).toBe('svid.maxTtl');
  });

  it('ignores MESHID_* variables that belong to other meshid tools (node agent, CLI, scripts)', () => {
    const env = {
      MESHID_ADMIN_SOCKET: '/tmp/admin.sock',
      MESHID_AGENT_SERVER__ADDRESS: 'ca:15012',
      MESHID_AGENT_JOIN_TOKEN: 'mjt1.0123456789abcdef.secret',
      MESHID_WITH_POSTGRES: '1',
      MESHID_LOG_LEVEL: 'debug',
    };
    const config = loadCaServerConfig({ env });
    expect(config.logLevel).toBe('debug');
    expect(config.listen.adminSocket).toBe(path.resolve('.meshid/ca/admin.sock'));
  });

  it('names the file when it cannot be read or is not a YAML mapping', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(configError(() => loadCaServerConfig({ file: missing }))).toEqual({
      key: '--config',
      message: `config --config: cannot read ${missing}: ENOENT`,
    });
    const broken = yamlFile('svid: [unclosed\n');
    const err = configError(() => loadCaServerConfig({ file: broken }));
    expect(err.key).toBe(broken);
    expect(err.message).toMatch(/not valid YAML/);
    const listFile = yamlFile('- a\n- b\n');
    expect(configError(() => loadCaServerConfig({ file: listFile }))).toEqual({ key: listFile, message: `config ${listFile}: expected a mapping, got ["a","b"]` });
  });
});
