import path from 'node:path';
import { ConfigError, rejectUnknownKeys, str } from '../../../core/config-values.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { resolveTrustDomain, settingError } from '../shared/settings.js';

/** What `ca.upstream` carries for `type: files`. */
export interface FilesSettings {
  /** Directory with Istio's cacerts files or the files of a kubernetes.io/tls secret. */
  dir: string;
}

export interface FilesUpstreamConfig extends FilesSettings {
  trustDomain: TrustDomain | string;
  /** Quiet period after the last change in `dir` before reloading (files are often replaced one by one). Default 300 ms. */
  reloadDelayMs?: number;
}

export interface ResolvedFilesConfig {
  dir: string;
  trustDomain: TrustDomain;
  reloadDelayMs: number;
}

const DEFAULT_RELOAD_DELAY_MS = 300;

/** Reads `ca.upstream` settings for the files upstream; errors name the key under `prefix`. */
export function readFilesSettings(prefix: string, raw: Record<string, unknown>): FilesSettings {
  rejectUnknownKeys(prefix, raw, ['type', 'dir']);
  if (raw.dir === undefined || raw.dir === '') {
    throw new ConfigError(`${prefix}.dir`, 'required for the files upstream: the directory holding the operator CA files');
  }
  return { dir: path.resolve(str(`${prefix}.dir`, raw.dir)) };
}

export function resolveFilesConfig(config: FilesUpstreamConfig): ResolvedFilesConfig {
  const bad = settingError('files');
  if (typeof config.dir !== 'string' || config.dir === '') throw bad('dir', 'must be a directory path');
  const trustDomain = resolveTrustDomain(config.trustDomain, bad);
  const reloadDelayMs = config.reloadDelayMs ?? DEFAULT_RELOAD_DELAY_MS;
  if (!Number.isInteger(reloadDelayMs) || reloadDelayMs < 0) {
    throw bad('reloadDelayMs', `must be a whole number of milliseconds >= 0, got ${reloadDelayMs}`);
  }
  return { dir: path.resolve(config.dir), trustDomain, reloadDelayMs };
}
