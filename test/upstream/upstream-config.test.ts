import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCaServerConfig, readCaServerConfig } from '../../ca-server/config.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { CertManagerAuthority } from '../../plugins/upstream/cert-manager/cert-manager-authority.js';
import { FilesAuthority } from '../../plugins/upstream/files/files-authority.js';
import { createUpstreamAuthority } from '../../ca-server/plugin-catalog.js';
import { SelfSignedAuthority } from '../../plugins/upstream/self-signed/self-signed-authority.js';
import { VaultAuthority } from '../../plugins/upstream/vault/vault-authority.js';

const upstreamOf = (upstream: unknown) => readCaServerConfig(upstream === undefined ? {} : { ca: { upstream } }).ca.upstream;
const errorOf = (upstream: unknown) => {
  try {
    upstreamOf(upstream);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('ca.upstream config', () => {
  it('defaults to self-signed and keeps the short string form', () => {
    expect(upstreamOf(undefined)).toEqual({ type: 'self-signed' });
    expect(upstreamOf('self-signed')).toEqual({ type: 'self-signed' });
    expect(upstreamOf({ type: 'self-signed' })).toEqual({ type: 'self-signed' });
  });

  it('reads files, vault and cert-manager settings, resolving paths and durations', () => {
    expect(upstreamOf({ type: 'files', dir: 'etc/cacerts' })).toEqual({ type: 'files', dir: path.resolve('etc/cacerts') });
    expect(
      upstreamOf({
        type: 'vault',
        address: 'https://vault.acme.test:8200',
        pkiMount: 'pki_int',
        namespace: 'mesh',
        caFile: '/etc/vault/ca.pem',
        timeout: '5s',
        auth: { method: 'approle', roleId: 'r-1', secretIdFile: '/run/secret-id' },
      }),
    ).toEqual({
      type: 'vault',
      address: 'https://vault.acme.test:8200',
      pkiMount: 'pki_int',
      namespace: 'mesh',
      caFile: '/etc/vault/ca.pem',
      timeoutMs: 5000,
      auth: { method: 'approle', roleId: 'r-1', secretId: undefined, secretIdFile: '/run/secret-id', mount: undefined },
    });
    expect(upstreamOf({ type: 'vault', address: 'https://v:8200', auth: { method: 'kubernetes', role: 'meshid' } })).toMatchObject({
      auth: { method: 'kubernetes', role: 'meshid', tokenFile: undefined },
    });
    expect(
      upstreamOf({ type: 'cert-manager', namespace: 'meshid-system', issuerName: 'acme-ca', issuerKind: 'ClusterIssuer', timeout: '2m' }),
    ).toEqual({
      type: 'cert-manager',
      namespace: 'meshid-system',
      issuerName: 'acme-ca',
      issuerKind: 'ClusterIssuer',
      issuerGroup: undefined,
      kubeconfig: undefined,
      timeoutMs: 120_000,
    });
  });

  it('layers env variables over the file (MESHID_CA__UPSTREAM__...)', () => {
    const config = loadCaServerConfig({
      env: {
        MESHID_CA__UPSTREAM__TYPE: 'vault',
        MESHID_CA__UPSTREAM__ADDRESS: 'https://vault:8200',
        MESHID_CA__UPSTREAM__AUTH__METHOD: 'token',
        MESHID_CA__UPSTREAM__AUTH__TOKEN_FILE: '/run/vault/token',
      },
    });
    expect(config.ca.upstream).toMatchObject({ type: 'vault', auth: { method: 'token', tokenFile: '/run/vault/token' } });
  });

  it.each([
    ['acme', 'config ca.upstream.type: expected one of self-signed, files, vault, cert-manager, got "acme"'],
    [{ dir: '/x' }, 'config ca.upstream.type: required: one of self-signed, files, vault, cert-manager'],
    [{ type: 'self-signed', dir: '/x' }, 'config ca.upstream.dir: unknown setting (known: type)'],
    ['files', 'config ca.upstream.dir: required for the files upstream'],
    [{ type: 'vault', auth: { method: 'token', token: 't' } }, 'config ca.upstream.address: required for the vault upstream'],
    [{ type: 'vault', address: 'https://v', adress: 'x' }, 'config ca.upstream.adress: unknown setting'],
    [{ type: 'vault', address: 'https://v' }, 'config ca.upstream.auth.method: required: token, approle or kubernetes'],
    [{ type: 'vault', address: 'https://v', auth: { method: 'ldap' } }, 'config ca.upstream.auth.method: expected one of token, approle, kubernetes, got "ldap"'],
    [{ type: 'vault', address: 'https://v', auth: { method: 'token' } }, 'config ca.upstream.auth.tokenFile: set exactly one of token or tokenFile'],
    [{ type: 'vault', address: 'https://v', auth: { method: 'approle', secretId: 's' } }, 'config ca.upstream.auth.roleId: required for AppRole login'],
    [{ type: 'vault', address: 'https://v', auth: { method: 'approle', roleId: 'r', secret: 's' } }, 'config ca.upstream.auth.secret: unknown setting'],
    [{ type: 'vault', address: 'https://v', auth: { method: 'kubernetes' } }, 'config ca.upstream.auth.role: required for Kubernetes login'],
    [{ type: 'vault', address: 'https://v', timeout: 'soon', auth: { method: 'token', token: 't' } }, 'config ca.upstream.timeout: expected a duration'],
    [{ type: 'cert-manager', issuerName: 'ca' }, 'config ca.upstream.namespace: required for the cert-manager upstream'],
    [{ type: 'cert-manager', namespace: 'ns' }, 'config ca.upstream.issuerName: required for the cert-manager upstream'],
  ])('rejects %j, naming the key', (upstream, message) => {
    expect(errorOf(upstream)).toContain(message);
  });

  it('builds the plugin the type selects', () => {
    const deps = { dataDir: '/tmp/meshid', trustDomain: TrustDomain.parse('acme.test'), keyAlgorithm: 'ec-p256' as const, rootTtlSeconds: 86400 * 365 };
    expect(createUpstreamAuthority({ type: 'self-signed' }, deps)).toBeInstanceOf(SelfSignedAuthority);
    expect(createUpstreamAuthority({ type: 'files', dir: '/etc/cacerts' }, deps)).toBeInstanceOf(FilesAuthority);
    expect(createUpstreamAuthority({ type: 'vault', address: 'https://v', auth: { method: 'token', token: 't' } }, deps)).toBeInstanceOf(VaultAuthority);
    expect(createUpstreamAuthority({ type: 'cert-manager', namespace: 'ns', issuerName: 'ca' }, deps)).toBeInstanceOf(CertManagerAuthority);
  });
});
