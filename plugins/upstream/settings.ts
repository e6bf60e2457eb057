import { ConfigError, oneOf, rejectUnknownKeys, section } from '../../core/config-values.js';
import { readCertManagerSettings, type CertManagerSettings } from './cert-manager/config.js';
import { readFilesSettings, type FilesSettings } from './files/config.js';
import { readVaultSettings, type VaultSettings } from './vault/config.js';

export const UPSTREAM_TYPES = ['self-signed', 'files', 'vault', 'cert-manager'] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/** `ca.upstream`: which root meshid chains to, with that plugin's settings. */
export type UpstreamSettings =
  | { type: 'self-signed' }
  | ({ type: 'files' } & FilesSettings)
  | ({ type: 'vault' } & VaultSettings)
  | ({ type: 'cert-manager' } & CertManagerSettings);

/**
 * Reads `ca.upstream` from raw config: the short form `self-signed` (or another type name), or a mapping
 * `{ type, ...settings }`. Errors are ConfigErrors naming the key, e.g. `ca.upstream.auth.roleId`.
 */
export function readUpstreamSettings(key: string, raw: unknown): UpstreamSettings {
  const settings = typeof raw === 'string' ? { type: raw } : section(key, raw);
  if (settings.type === undefined) throw new ConfigError(`${key}.type`, `required: one of ${UPSTREAM_TYPES.join(', ')}`);
  const type = oneOf(`${key}.type`, settings.type, UPSTREAM_TYPES);
  switch (type) {
    case 'self-signed':
      rejectUnknownKeys(key, settings, ['type']);
      return { type };
    case 'files':
      return { type, ...readFilesSettings(key, settings) };
    case 'vault':
      return { type, ...readVaultSettings(key, settings) };
    case 'cert-manager':
      return { type, ...readCertManagerSettings(key, settings) };
  }
}
