import type { UpstreamPlugin } from '../../api/upstream-authority.js';
import { readVaultSettings, type VaultSettings } from './config.js';
import { VaultAuthority } from './vault-authority.js';

/** `ca.upstream.type: vault`: Vault or OpenBao PKI signs meshid's signing CA. */
export const vaultUpstream: UpstreamPlugin<VaultSettings> = {
  type: 'vault',
  readSettings: readVaultSettings,
  create: (settings, { trustDomain, log, registry }) => new VaultAuthority({ ...settings, trustDomain }, { log, registry }),
};
