import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import type { KeyAlgorithm } from '../../core/x509/keys.js';
import { CertManagerAuthority } from './cert-manager/cert-manager-authority.js';
import { FilesAuthority } from './files/files-authority.js';
import { SelfSignedAuthority } from './self-signed/self-signed-authority.js';
import type { UpstreamSettings } from './settings.js';
import type { UpstreamAuthority } from './upstream-authority.js';
import { VaultAuthority } from './vault/vault-authority.js';

export { readUpstreamSettings, UPSTREAM_TYPES, type UpstreamSettings, type UpstreamType } from './settings.js';
export type { UpstreamAuthority } from './upstream-authority.js';

/** What every plugin may need from the CA server besides its own settings. */
export interface UpstreamDeps {
  dataDir: string;
  trustDomain: TrustDomain;
  /** self-signed: key algorithm and lifetime of the embedded root. */
  keyAlgorithm: KeyAlgorithm;
  rootTtlSeconds: number;
  log?: Logger;
  /** Where upstream failure counters go (the CA server's metrics registry). */
  registry?: Registry;
}

/** Builds (does not start) the upstream authority the settings select. */
export function createUpstreamAuthority(settings: UpstreamSettings, deps: UpstreamDeps): UpstreamAuthority {
  const { trustDomain, log, registry } = deps;
  switch (settings.type) {
    case 'self-signed':
      return new SelfSignedAuthority({
        dataDir: deps.dataDir,
        trustDomain,
        keyAlgorithm: deps.keyAlgorithm,
        rootTtlSeconds: deps.rootTtlSeconds,
      });
    case 'files':
      return new FilesAuthority({ ...settings, trustDomain }, { log, registry });
    case 'vault':
      return new VaultAuthority({ ...settings, trustDomain }, { log, registry });
    case 'cert-manager':
      return new CertManagerAuthority({ ...settings, trustDomain }, { log, registry });
  }
}
