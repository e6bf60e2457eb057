import { invalidArgument, MeshidError } from '../../../core/errors.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { DEFAULT_KEY_ALGORITHM, parseKeyAlgorithm, type KeyAlgorithm } from '../../../core/x509/keys.js';

export const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;

export interface SelfSignedConfig {
  /** The root lives in `<dataDir>/upstream/self-signed/`. */
  dataDir: string;
  trustDomain: TrustDomain | string;
  /** Default ec-p256. */
  keyAlgorithm?: KeyAlgorithm | string;
  /** Lifetime of a newly created root; default 10 years. */
  rootTtlSeconds?: number;
  /** Subject of a newly created root; default "O=meshid, CN=meshid root <td>". */
  subject?: string;
}

export interface ResolvedSelfSignedConfig {
  dataDir: string;
  trustDomain: TrustDomain;
  keyAlgorithm: KeyAlgorithm;
  rootTtlSeconds: number;
  subject: string;
}

/** Validates the config; errors name the setting. */
export function resolveSelfSignedConfig(config: SelfSignedConfig): ResolvedSelfSignedConfig {
  const bad = (key: string, why: string) => invalidArgument(`self-signed upstream authority: ${key} ${why}`, 'bad_config');
  if (typeof config.dataDir !== 'string' || config.dataDir === '') throw bad('dataDir', 'must be a directory path');
  const trustDomain = withSetting('trustDomain', () =>
    typeof config.trustDomain === 'string' ? TrustDomain.parse(config.trustDomain) : config.trustDomain,
  );
  const keyAlgorithm = withSetting('keyAlgorithm', () => parseKeyAlgorithm(config.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM));
  const rootTtlSeconds = config.rootTtlSeconds ?? DEFAULT_ROOT_TTL_SECONDS;
  if (!Number.isInteger(rootTtlSeconds) || rootTtlSeconds < 3600) {
    throw bad('rootTtlSeconds', `must be a whole number of seconds >= 3600, got ${rootTtlSeconds}`);
  }
  const subject = config.subject ?? `O=meshid, CN=meshid root ${trustDomain.name}`;
  if (subject.trim() === '') throw bad('subject', 'must not be empty (a CA certificate needs a subject)');
  return { dataDir: config.dataDir, trustDomain, keyAlgorithm, rootTtlSeconds, subject };
}

function withSetting<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof MeshidError) throw invalidArgument(`self-signed upstream authority: ${key}: ${err.message}`, 'bad_config');
    throw err;
  }
}
