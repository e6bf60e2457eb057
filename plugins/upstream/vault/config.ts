import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { ConfigError, durationSeconds, oneOf, rejectUnknownKeys, section, str } from '../../../core/config-values.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { resolveTrustDomain, settingError } from '../shared/settings.js';

export const DEFAULT_PKI_MOUNT = 'pki';
export const DEFAULT_KUBERNETES_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const DEFAULT_TIMEOUT_MS = 10_000;

/** How meshid authenticates to Vault. Secrets may come from files, which are reread at every login. */
export type VaultAuthSettings =
  | { method: 'token'; token?: string; tokenFile?: string }
  | { method: 'approle'; roleId: string; secretId?: string; secretIdFile?: string; mount?: string }
  | { method: 'kubernetes'; role: string; tokenFile?: string; mount?: string };

/** What `ca.upstream` carries for `type: vault` (HashiCorp Vault or OpenBao). */
export interface VaultSettings {
  /** e.g. https://vault.example.com:8200; plain http only to a loopback address. */
  address: string;
  /** The PKI secrets engine that signs meshid's signing CA; default "pki". */
  pkiMount?: string;
  /** Vault Enterprise / OpenBao namespace (X-Vault-Namespace). */
  namespace?: string;
  /** PEM CA bundle that verifies Vault's TLS certificate; default the system roots. */
  caFile?: string;
  /** Per-request timeout; default 10 s. */
  timeoutMs?: number;
  auth: VaultAuthSettings;
}

export interface VaultUpstreamConfig extends VaultSettings {
  trustDomain: TrustDomain | string;
}

export type ResolvedVaultAuth =
  | { method: 'token'; token?: string; tokenFile?: string }
  | { method: 'approle'; roleId: string; secretId?: string; secretIdFile?: string; mount: string }
  | { method: 'kubernetes'; role: string; tokenFile: string; mount: string };

export interface ResolvedVaultConfig {
  address: string;
  pkiMount: string;
  namespace: string;
  caPem?: string;
  timeoutMs: number;
  auth: ResolvedVaultAuth;
  trustDomain: TrustDomain;
}

/** Reads `ca.upstream` settings for the vault upstream; errors name the key under `prefix`. */
export function readVaultSettings(prefix: string, raw: Record<string, unknown>): VaultSettings {
  rejectUnknownKeys(prefix, raw, ['type', 'address', 'pkiMount', 'namespace', 'caFile', 'timeout', 'auth']);
  const optional = (key: string) => (raw[key] === undefined ? undefined : str(`${prefix}.${key}`, raw[key]));
  const address = optional('address');
  if (!address) throw new ConfigError(`${prefix}.address`, 'required for the vault upstream, e.g. "https://vault:8200"');
  const caFile = optional('caFile');
  return {
    address,
    pkiMount: optional('pkiMount'),
    namespace: optional('namespace'),
    caFile: caFile ? path.resolve(caFile) : undefined,
    timeoutMs: raw.timeout === undefined ? undefined : durationSeconds(`${prefix}.timeout`, raw.timeout) * 1000,
    auth: readAuth(`${prefix}.auth`, section(`${prefix}.auth`, raw.auth)),
  };
}

function readAuth(prefix: string, raw: Record<string, unknown>): VaultAuthSettings {
  const optional = (key: string) => (raw[key] === undefined || raw[key] === '' ? undefined : str(`${prefix}.${key}`, raw[key]));
  const file = (key: string) => {
    const value = optional(key);
    return value === undefined ? undefined : path.resolve(value);
  };
  const required = (key: string, why: string) => {
    const value = optional(key);
    if (value === undefined) throw new ConfigError(`${prefix}.${key}`, why);
    return value;
  };
  if (raw.method === undefined) throw new ConfigError(`${prefix}.method`, 'required: token, approle or kubernetes');
  const method = oneOf(`${prefix}.method`, raw.method, ['token', 'approle', 'kubernetes'] as const);
  if (method === 'token') {
    rejectUnknownKeys(prefix, raw, ['method', 'token', 'tokenFile']);
    const auth = { method, token: optional('token'), tokenFile: file('tokenFile') };
    if (!auth.token === !auth.tokenFile) throw new ConfigError(`${prefix}.tokenFile`, 'set exactly one of token or tokenFile');
    return auth;
  }
  if (method === 'approle') {
    rejectUnknownKeys(prefix, raw, ['method', 'roleId', 'secretId', 'secretIdFile', 'mount']);
    const auth = {
      method,
      roleId: required('roleId', 'required for AppRole login'),
      secretId: optional('secretId'),
      secretIdFile: file('secretIdFile'),
      mount: optional('mount'),
    };
    if (auth.secretId && auth.secretIdFile) throw new ConfigError(`${prefix}.secretIdFile`, 'set at most one of secretId or secretIdFile');
    return auth;
  }
  rejectUnknownKeys(prefix, raw, ['method', 'role', 'tokenFile', 'mount']);
  return { method, role: required('role', 'required for Kubernetes login'), tokenFile: file('tokenFile'), mount: optional('mount') };
}

const bad = settingError('vault');

/** Checks the settings, fills defaults and reads the TLS CA file. */
export async function resolveVaultConfig(config: VaultUpstreamConfig): Promise<ResolvedVaultConfig> {
  const trustDomain = resolveTrustDomain(config.trustDomain, bad);
  const address = checkAddress(config.address);
  const pkiMount = mountPath('pkiMount', config.pkiMount ?? DEFAULT_PKI_MOUNT, 'pki');
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw bad('timeout', `must be greater than zero, got ${timeoutMs} ms`);
  let caPem: string | undefined;
  if (config.caFile) {
    caPem = await readFile(config.caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw bad('caFile', `cannot be read: ${config.caFile} (${err.code ?? 'error'})`);
    });
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw bad('caFile', `${config.caFile} holds no PEM certificate`);
  }
  return { address, pkiMount, namespace: config.namespace ?? '', caPem, timeoutMs, auth: resolveAuth(config.auth), trustDomain };
}

function checkAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw bad('address', `must be a URL like "https://vault:8200", got "${address}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('address', `must be an http(s) URL, got "${address}"`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
  if (url.protocol === 'http:' && !loopback) {
    throw bad('address', `must use https: plain http would send meshid's Vault token in the clear (allowed only to loopback)`);
  }
  return url.href.replace(/\/+$/, '');
}

function resolveAuth(auth: VaultAuthSettings | undefined): ResolvedVaultAuth {
  if (!auth) throw bad('auth', 'is required (method token, approle or kubernetes)');
  switch (auth.method) {
    case 'token':
      if (!auth.token === !auth.tokenFile) throw bad('auth', 'token needs exactly one of token or tokenFile');
      return auth;
    case 'approle':
      if (!auth.roleId) throw bad('auth.roleId', 'is required for AppRole login');
      if (auth.secretId && auth.secretIdFile) throw bad('auth', 'approle takes at most one of secretId or secretIdFile');
      return { ...auth, mount: mountPath('auth.mount', auth.mount ?? 'approle', 'approle') };
    case 'kubernetes':
      if (!auth.role) throw bad('auth.role', 'is required for Kubernetes login');
      return {
        ...auth,
        tokenFile: auth.tokenFile ?? DEFAULT_KUBERNETES_TOKEN_FILE,
        mount: mountPath('auth.mount', auth.mount ?? 'kubernetes', 'kubernetes'),
      };
    default:
      throw bad('auth.method', `must be token, approle or kubernetes, got "${(auth as { method?: unknown }).method}"`);
  }
}

/** A Vault mount path without leading or trailing slashes; segments start with a letter, digit or "_". */
function mountPath(key: string, mount: string, example: string): string {
  const trimmed = mount.replace(/^\/+|\/+$/g, '');
  if (!trimmed.split('/').every((segment) => /^\w[\w.-]*$/.test(segment))) {
    throw bad(key, `must be a mount path like "${example}", got "${mount}"`);
  }
  return trimmed;
}
