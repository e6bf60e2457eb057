import { rejectUnknownKeys } from '../../../core/config-values.js';
import type { UpstreamPlugin } from '../../api/upstream-authority.js';
import { SelfSignedAuthority } from './self-signed-authority.js';

/** `ca.upstream: self-signed` (the default): meshid holds its own root; it takes no settings. */
export const selfSignedUpstream: UpstreamPlugin<Record<string, never>> = {
  type: 'self-signed',
  readSettings(key, raw) {
    rejectUnknownKeys(key, raw, ['type']);
    return {};
  },
  create: (_settings, { dataDir, trustDomain, keyAlgorithm, rootTtlSeconds }) =>
    new SelfSignedAuthority({ dataDir, trustDomain, keyAlgorithm, rootTtlSeconds }),
};
