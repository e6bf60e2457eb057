import { ConfigError, durationSeconds, rejectUnknownKeys } from '../../../core/config-values.js';
import type { TrustDomain } from '../../../core/spiffeid.js';
import type { JoinTokenStore } from '../../api/join-token-store.js';
import type { PluginDefinition } from '../../api/plugin.js';
import { JoinTokenAttestor } from './join-token-attestor.js';

export interface JoinTokenSettings {
  /** TTL of a token whose request names none. */
  defaultTtlSeconds: number;
  /** Longest TTL a request may ask for. */
  maxTtlSeconds: number;
}

const DEFAULTS = { defaultTtl: '10m', maxTtl: '7d' };

const positive = (key: string, value: unknown) => {
  const seconds = durationSeconds(key, value);
  if (seconds <= 0) throw new ConfigError(key, 'must be greater than zero');
  return seconds;
};

/** The VM node attestor (`joinToken.*`): single-use join tokens, consumed atomically through the JoinTokenStore port. */
export const joinTokenAttestor: PluginDefinition<JoinTokenSettings, { store: JoinTokenStore; trustDomain: TrustDomain }, JoinTokenAttestor> = {
  type: 'join_token',
  readSettings(key, raw) {
    rejectUnknownKeys(key, raw, ['defaultTtl', 'maxTtl']);
    return {
      defaultTtlSeconds: positive(`${key}.defaultTtl`, raw.defaultTtl ?? DEFAULTS.defaultTtl),
      maxTtlSeconds: positive(`${key}.maxTtl`, raw.maxTtl ?? DEFAULTS.maxTtl),
    };
  },
  create: (settings, { store, trustDomain }) => new JoinTokenAttestor({ store, trustDomain, ...settings }),
};
