import { ConfigError, str } from '../../../core/config-values.js';
import type { TokenVerifierPlugin } from '../../api/attestor.js';
import { createJwtVerifier } from './jwt-verifier.js';

export interface JwtVerifierSettings {
  issuer: string;
  /** Exactly one of jwksFile and oidcDiscoveryUrl. */
  jwksFile: string;
  oidcDiscoveryUrl: string;
  /** CA bundle for an https discovery URL. */
  caFile: string;
}

/** `kubernetes.mode: jwt`: tokens are verified offline against the issuer's key set (file or OIDC discovery). */
export const jwtVerifier: TokenVerifierPlugin<JwtVerifierSettings> = {
  type: 'jwt',
  readSettings(key, raw) {
    const settings = {
      issuer: str(`${key}.issuer`, raw.issuer ?? ''),
      jwksFile: str(`${key}.jwksFile`, raw.jwksFile ?? ''),
      oidcDiscoveryUrl: str(`${key}.oidcDiscoveryUrl`, raw.oidcDiscoveryUrl ?? ''),
      caFile: str(`${key}.caFile`, raw.caFile ?? ''),
    };
    if (!settings.issuer) throw new ConfigError(`${key}.issuer`, 'required when kubernetes.mode is jwt');
    if (!settings.jwksFile === !settings.oidcDiscoveryUrl) {
      throw new ConfigError(`${key}.jwksFile`, `set exactly one of ${key}.jwksFile or ${key}.oidcDiscoveryUrl in jwt mode`);
    }
    return settings;
  },
  create: (settings, { audiences, rejectedTokens }) =>
    createJwtVerifier({
      issuer: settings.issuer,
      audiences,
      jwksFile: settings.jwksFile || undefined,
      oidcDiscoveryUrl: settings.oidcDiscoveryUrl || undefined,
      caFile: settings.caFile || undefined,
      rejectedTokens,
    }),
};
