import { invalidArgument, MeshidError } from '../../../core/errors.js';
import { TrustDomain } from '../../../core/spiffeid.js';

export type SettingError = (key: string, why: string) => MeshidError;

/** INVALID_ARGUMENT naming the plugin and the setting, e.g. "vault upstream authority: address must be ...". */
export function settingError(plugin: string): SettingError {
  return (key, why) => invalidArgument(`${plugin} upstream authority: ${key} ${why}`, 'bad_config');
}

/** The trust domain every plugin is configured with, given as a name or already parsed. */
export function resolveTrustDomain(value: TrustDomain | string, bad: SettingError): TrustDomain {
  if (typeof value !== 'string') return value;
  try {
    return TrustDomain.parse(value);
  } catch (err) {
    if (err instanceof MeshidError) throw bad('trustDomain', `is invalid: ${err.message}`);
    throw err;
  }
}
