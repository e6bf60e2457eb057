// The configuration keys of policy distribution: the CA's `policies` and the agent's `authz`.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaServerConfig } from '../../ca-server/config.js';
import { ConfigError } from '../../core/config-values.js';
import { loadNodeAgentConfig, readNodeAgentConfig } from '../../node-agent/config.js';

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

describe('CA config: policies', () => {
  it('distributes nothing by default, with the Istio root namespace', () => {
    expect(readCaServerConfig({}).policies).toEqual({ paths: [], kubernetes: false, rootNamespace: 'istio-system' });
  });

  it('reads paths (resolved; a comma-separated list from env/flags), kubernetes and rootNamespace', () => {
    expect(readCaServerConfig({ policies: { paths: 'policies/a.yaml, /etc/meshid/policies', rootNamespace: 'mesh-root' } }).policies).toEqual({
      paths: [path.resolve('policies/a.yaml'), '/etc/meshid/policies'],
      kubernetes: false,
      rootNamespace: 'mesh-root',
    });
    expect(readCaServerConfig({ policies: { kubernetes: 'true' } }).policies.kubernetes).toBe(true);
  });

  it('names the key of a bad value', () => {
    expect(configError(() => readCaServerConfig({ policies: { paths: ['/p'], kubernetes: true } }))).toEqual({
      key: 'policies.kubernetes',
      message: 'config policies.kubernetes: set either policies.paths or policies.kubernetes, not both',
    });
    expect(configError(() => readCaServerConfig({ policies: { rootNamespace: 'Istio_System' } })).key).toBe('policies.rootNamespace');
    expect(configError(() => readCaServerConfig({ policies: { kubernetes: 'yes' } })).key).toBe('policies.kubernetes');
    expect(configError(() => readCaServerConfig({ policies: { path: ['/p'] } })).key).toBe('policies.path');
  });
});

describe('agent config: authz', () => {
  it('serves ext_authz by default on <socketDir>/authz.sock, 0600, following the CA', () => {
    expect(readNodeAgentConfig({ socketDir: '/run/meshid' }).authz).toEqual({
      enabled: true,
      socket: '/run/meshid/authz.sock',
      socketMode: 0o600,
      policyPaths: [],
      rootNamespace: 'istio-system',
      defaultWorkload: '',
    });
  });

  it('reads every key, from YAML-shaped values and from flags', () => {
    const config = loadNodeAgentConfig({
      flags: {
        'authz.enabled': 'false',
        'authz.socket': 'run/authz.sock',
        'authz.socketMode': '0660',
        'authz.policyPaths': 'a.yaml,b',
        'authz.rootNamespace': 'mesh-root',
        'authz.defaultWorkload': 'spiffe://example.org/vm/billing',
      },
    });
    expect(config.authz).toEqual({
      enabled: false,
      socket: path.resolve('run/authz.sock'),
      socketMode: 0o660,
      policyPaths: [path.resolve('a.yaml'), path.resolve('b')],
      rootNamespace: 'mesh-root',
      defaultWorkload: 'spiffe://example.org/vm/billing',
    });
  });

  it('names the key of a bad value', () => {
    // YAML reads an unquoted 0660 as the number 660: refused rather than guessed at.
    expect(configError(() => readNodeAgentConfig({ authz: { socketMode: 660 } }))).toEqual({
      key: 'authz.socketMode',
      message: 'config authz.socketMode: expected an octal file mode in quotes, e.g. "0600" or "0660", got 660',
    });
    expect(configError(() => readNodeAgentConfig({ authz: { socketMode: '0755' } })).message).toMatch(/no execute bits/);
    expect(configError(() => readNodeAgentConfig({ authz: { socketMode: '0400' } })).message).toMatch(/read and write/);
    expect(configError(() => readNodeAgentConfig({ authz: { defaultWorkload: 'billing' } })).key).toBe('authz.defaultWorkload');
    expect(configError(() => readNodeAgentConfig({ authz: { rootNamespace: '' } })).key).toBe('authz.rootNamespace');
    expect(configError(() => readNodeAgentConfig({ authz: { policies: [] } })).key).toBe('authz.policies');
  });
});
