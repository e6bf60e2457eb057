import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNodeAgentConfig, readNodeAgentConfig } from '../../node-agent/config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

describe('node agent config', () => {
  it('has working defaults: VM mode, 50% +- 10% rotation, 1s..60s backoff, 1000 identities', () => {
    const config = readNodeAgentConfig({});
    expect(config).toMatchObject({
      mode: 'vm',
      server: { addresses: ['localhost:15012'], tlsServerName: '', trustBundleFile: '', callTimeoutMs: 10_000 },
      dataDir: path.resolve('.meshid/agent'),
      socketDir: path.resolve('.meshid/sockets'),
      joinToken: '',
      rotation: { fraction: 0.5, jitter: 0.1 },
      backoff: { initialMs: 1000, maxMs: 60_000 },
      cache: { maxIdentities: 1000, idleMs: 600_000 },
      workload: { keyAlgorithm: 'ec-p256', svidTtlSeconds: 0 },
      entries: { pollIntervalMs: 30_000 },
      listen: { ops: { host: '127.0.0.1', port: 15020 } },
    });
  });

  it('layers YAML < MESHID_AGENT_* env < --flags', () => {
    const yaml = file('agent.yaml', 'mode: k8s\nserver:\n  address: ca.example:15012\n  tlsServerName: meshid-ca\nrotation:\n  jitter: 0.05\n');
    const config = loadNodeAgentConfig({
      file: yaml,
      env: { MESHID_AGENT_SERVER__ADDRESS: 'env-ca:15012', MESHID_AGENT_CACHE__MAX_IDENTITIES: '50', MESHID_ADMIN_SOCKET: '/ignored' },
      flags: { 'cache.maxIdentities': '20', 'backoff.initial': '250ms' },
    });
    expect(config.mode).toBe('k8s');
    expect(config.server).toMatchObject({ addresses: ['env-ca:15012'], tlsServerName: 'meshid-ca' });
    expect(config.rotation).toEqual({ fraction: 0.5, jitter: 0.05 });
    expect(config.cache.maxIdentities).toBe(20);
    expect(config.backoff.initialMs).toBe(250);
  });

  it('takes several CA addresses: a YAML list, or comma-separated from env and flags', () => {
    const yaml = file('replicas.yaml', 'server:\n  address:\n    - ca-0.example:15012\n    - "[fd00::1]:15012"\n');
    expect(loadNodeAgentConfig({ file: yaml }).server.addresses).toEqual(['ca-0.example:15012', '[fd00::1]:15012']);
    const env = { MESHID_AGENT_SERVER__ADDRESS: 'ca-0:15012, ca-1:15012' };
    expect(loadNodeAgentConfig({ env }).server.addresses).toEqual(['ca-0:15012', 'ca-1:15012']);
  });

  it('reads the join token from joinTokenFile (first line)', () => {
    const tokenFile = file('token', 'abc.def\nignored\n');
    expect(readNodeAgentConfig({ joinTokenFile: tokenFile }).joinToken).toBe('abc.def');
  });

  it.each([
    [{ serverr: {} }, /^config serverr: unknown setting/],
    [{ mode: 'docker' }, /^config mode: expected one of vm, k8s/],
    [{ server: { address: 'no-port' } }, /^config server.address: expected "host:port"/],
    [{ server: { address: ['ca-0:15012', 'ca-1:99999'] } }, /^config server.address\[1\]: expected "host:port" of the CA .*got "ca-1:99999"/],
    [{ server: { address: [] } }, /^config server.address: expected at least one "host:port"/],
    [{ server: { address: 'ca-0:15012,ca-0:15012' } }, /^config server.address: "ca-0:15012" is listed twice/],
    [{ rotation: { fraction: 1 } }, /^config rotation.fraction: must be between 0 and 1/],
    [{ rotation: { jitter: 0.5 } }, /^config rotation.jitter: must be at least 0 and less than 0.5/],
    [{ backoff: { initial: '10s', max: '1s' } }, /^config backoff.max: must not be below backoff.initial/],
    [{ backoff: { initial: '0s' } }, /^config backoff.initial: must be greater than zero/],
    [{ cache: { maxIdentities: 0 } }, /^config cache.maxIdentities: must be a whole number/],
    [{ cache: { idleTimeout: 'soon' } }, /^config cache.idleTimeout: expected a duration/],
    [{ workload: { keyAlgorithm: 'dsa' } }, /^config workload.keyAlgorithm: expected one of/],
    [{ insecureBootstrap: true }, /^config insecureBootstrap: not supported: set server.trustBundleFile/],
    [{ mode: 'k8s', joinToken: 'x' }, /^config joinToken: join tokens are for mode vm/],
    [{ joinToken: 'x', joinTokenFile: '/tmp/t' }, /^config joinTokenFile: set either joinToken or joinTokenFile/],
    [{ joinTokenFile: '/nonexistent/token' }, /^config joinTokenFile: cannot read \/nonexistent\/token: ENOENT/],
    [{ listen: { ops: 'localhost' } }, /^config listen.ops: expected "host:port"/],
    [{ kubernetes: { nodeName: 'Node_A' } }, /^config kubernetes.nodeName: "Node_A" is not a Kubernetes node name/],
    [{ kubernetes: { streamTokenFraction: 1 } }, /^config kubernetes.streamTokenFraction: must be between 0 and 1/],
  ])('rejects %j naming the key', (raw, message) => {
    expect(() => readNodeAgentConfig(raw)).toThrow(message);
  });

  it('accepts insecureBootstrap: false (the only supported value)', () => {
    expect(readNodeAgentConfig({ insecureBootstrap: 'false' }).mode).toBe('vm');
  });

  it('never puts a join token into an error', () => {
    const secret = 'jt-secret-value.with-parts';
    expect(() => readNodeAgentConfig({ mode: 'k8s', joinToken: secret })).toThrow(expect.objectContaining({ message: expect.not.stringContaining(secret) }));
  });
});
