import path from 'node:path';
import {
  bool,
  ConfigError,
  durationSeconds,
  list,
  listenAddress,
  mergeLayers,
  oneOf,
  rejectUnknownKeys,
  section,
  str,
} from '../core/config-values.js';
import { readYamlConfigFile } from '../core/config-file.js';
import { DEFAULT_ROOT_NAMESPACE } from '../core/policy/model.js';
import { TrustDomain } from '../core/spiffeid.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../core/x509/keys.js';
import {
  readJoinTokenSettings,
  readTokenVerifierSettings,
  readUpstreamSettings,
  TOKEN_VERIFIER_TYPES,
  type JoinTokenSettings,
  type UpstreamSettings,
} from './plugin-catalog.js';
import { JWT_ALGORITHMS, type JwtAlgorithm } from './authority/jwt-keys.js';
import { readCaLimits, type CaLimitsConfig } from './limits/config.js';
import { readBundleConfigMap, type BundleConfigMapConfig } from './bundle-publication/config.js';
import { readDatastoreConfig, type DatastoreConfig } from './datastore/config.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface KubernetesAttestationConfig {
  /** The token verifier plugin (tokenreview: ask the API server; jwt: verify offline against the issuer's JWKS), or disabled. */
  mode: string;
  audiences: string[];
  /** kubeconfig file for every call to the API server; empty = in-cluster service account. */
  kubeconfig: string;
  /**
   * Node agents' service accounts ("namespace/name") allowed to request SVIDs for pods on their own node
   * (Istio's CA_TRUSTED_NODE_ACCOUNTS).
   */
  trustedNodeAccounts: string[];
  /** The verifier plugin's own settings (jwt: issuer, jwksFile, oidcDiscoveryUrl, caFile), as it read them. */
  verifier: object;
  /** The trust bundle published into a ConfigMap per namespace; independent of mode. */
  bundleConfigMap: BundleConfigMapConfig;
}

/** Authorization policies the CA distributes to node agents (WatchPolicies); at most one source. */
export interface CaPolicyConfig {
  /** AuthorizationPolicy YAML files and/or directories, watched for changes. */
  paths: string[];
  /** Watch the cluster's AuthorizationPolicy resources (kubernetes.kubeconfig, else in-cluster credentials). */
  kubernetes: boolean;
  /** Policies in this namespace apply to every workload. */
  rootNamespace: string;
}

export interface CaServerConfig {
  trustDomain: TrustDomain;
  dataDir: string;
  /** Where the CA's state lives: SQLite in dataDir (default) or PostgreSQL, shared by several replicas. */
  datastore: DatastoreConfig;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  listen: {
    /** TLS gRPC: Istio CA service and the node-agent API. */
    grpc: ListenAddress;
    /** Plain HTTP: /metrics, /healthz, /readyz. */
    metrics: ListenAddress;
    adminSocket: string;
  };
  /** DNS SANs of the CA server's own serving certificate. */
  serverDnsNames: string[];
  /** Audit log (JSON lines): a file path, or "-" for standard output. Default <dataDir>/audit.log. */
  auditLog: string;
  svid: { defaultTtlSeconds: number; maxTtlSeconds: number; subject: string };
  agentSvidTtlSeconds: number;
  ca: {
    keyAlgorithm: KeyAlgorithm;
    rootTtlSeconds: number;
    intermediateTtlSeconds: number;
    /** The root meshid chains to: `self-signed` (default), `files`, `vault` or `cert-manager` with its settings. */
    upstream: UpstreamSettings;
  };
  joinToken: JoinTokenSettings;
  kubernetes: KubernetesAttestationConfig;
  /** JWT-SVIDs: signing-key algorithm, token TTLs, and how long one signing key is used. */
  jwt: { keyAlgorithm: JwtAlgorithm; defaultTtlSeconds: number; maxTtlSeconds: number; keyLifetimeSeconds: number };
  policies: CaPolicyConfig;
  /** Abuse limits: per-caller rate limits, refused-token memory, listener caps. */
  limits: CaLimitsConfig;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const CONFIG_DEFAULTS = {
  trustDomain: 'cluster.local',
  dataDir: './.meshid/ca',
  logLevel: 'info',
  listen: { grpc: '0.0.0.0:15012', metrics: '0.0.0.0:15014' },
  serverDnsNames: ['localhost', 'meshid-ca', 'meshid-ca.meshid-system.svc'],
  svid: { defaultTtl: '1h', maxTtl: '24h', subject: '' },
  agentSvidTtl: '1h',
  ca: { keyAlgorithm: 'ec-p256', rootTtl: '3650d', intermediateTtl: '7d', upstream: 'self-signed' },
  kubernetes: { mode: 'disabled', audiences: ['meshid'] },
  jwt: { keyAlgorithm: 'ES256', defaultTtl: '5m', maxTtl: '1h', keyLifetime: '24h' },
  policies: { paths: [], kubernetes: false, rootNamespace: DEFAULT_ROOT_NAMESPACE },
} as const;

/**
 * Reads the CA server configuration: defaults < YAML file < MESHID_* env < --dotted.flags.
 * Throws ConfigError naming the bad key.
 */
export function loadCaServerConfig(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string>;
}): CaServerConfig {
  const fileValues = readYamlConfigFile(options.file);
  const merged = mergeLayers(fileValues, caEnvironment(options.env ?? {}), ENV_PREFIX, options.flags ?? {});
  return readCaServerConfig(merged);
}

const ENV_PREFIX = 'MESHID_';
const TOP_LEVEL_KEYS = [
  'trustDomain', 'dataDir', 'logLevel', 'listen', 'serverDnsNames', 'auditLog', 'svid', 'agentSvidTtl', 'ca', 'joinToken',
  'kubernetes', 'jwt', 'policies', 'limits', 'datastore',
];

/**
 * Other meshid tools share the MESHID_ prefix (MESHID_AGENT_* for the node agent, MESHID_ADMIN_SOCKET for the
 * CLI), so only variables naming one of the CA's top-level keys are read; within those, unknown keys are errors.
 */
function caEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name, value]) => {
      const [key] = Object.keys(mergeLayers({}, { [name]: value }, ENV_PREFIX, {}));
      return key !== undefined && TOP_LEVEL_KEYS.includes(key);
    }),
  );
}

export function readCaServerConfig(raw: Record<string, unknown>): CaServerConfig {
  rejectUnknownKeys('', raw, TOP_LEVEL_KEYS);
  const d = CONFIG_DEFAULTS;
  const trustDomain = readTrustDomain(raw.trustDomain ?? d.trustDomain);
  const dataDir = path.resolve(str('dataDir', raw.dataDir ?? d.dataDir));

  const listen = section('listen', raw.listen);
  rejectUnknownKeys('listen', listen, ['grpc', 'metrics', 'adminSocket']);

  const svid = section('svid', raw.svid);
  rejectUnknownKeys('svid', svid, ['defaultTtl', 'maxTtl', 'subject']);
  const maxTtlSeconds = positiveDuration('svid.maxTtl', svid.maxTtl ?? d.svid.maxTtl);
  const defaultTtlSeconds = positiveDuration('svid.defaultTtl', svid.defaultTtl ?? d.svid.defaultTtl);
  if (defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError('svid.defaultTtl', `must not exceed svid.maxTtl (${maxTtlSeconds}s)`);
  }

  const ca = section('ca', raw.ca);
  rejectUnknownKeys('ca', ca, ['keyAlgorithm', 'rootTtl', 'intermediateTtl', 'upstream']);
  const rootTtlSeconds = positiveDuration('ca.rootTtl', ca.rootTtl ?? d.ca.rootTtl);
  const intermediateTtlSeconds = positiveDuration('ca.intermediateTtl', ca.intermediateTtl ?? d.ca.intermediateTtl);
  if (intermediateTtlSeconds >= rootTtlSeconds) {
    throw new ConfigError('ca.intermediateTtl', `must be shorter than ca.rootTtl (${rootTtlSeconds}s)`);
  }
  if (maxTtlSeconds > intermediateTtlSeconds / 2) {
    // An SVID may never outlive its issuer, and rotation needs headroom: keep SVIDs well inside the intermediate.
    throw new ConfigError('svid.maxTtl', `must be at most half of ca.intermediateTtl (${intermediateTtlSeconds}s)`);
  }


  return {
    trustDomain,
    dataDir,
    datastore: readDatastoreConfig(section('datastore', raw.datastore)),
    logLevel: oneOf('logLevel', raw.logLevel ?? d.logLevel, LOG_LEVELS),
    listen: {
      grpc: listenAddress('listen.grpc', listen.grpc ?? d.listen.grpc),
      metrics: listenAddress('listen.metrics', listen.metrics ?? d.listen.metrics),
      adminSocket: path.resolve(str('listen.adminSocket', listen.adminSocket ?? path.join(dataDir, 'admin.sock'))),
    },
    serverDnsNames: list('serverDnsNames', raw.serverDnsNames ?? d.serverDnsNames),
    auditLog: readAuditLog(raw.auditLog, dataDir),
    svid: { defaultTtlSeconds, maxTtlSeconds, subject: str('svid.subject', svid.subject ?? d.svid.subject) },
    agentSvidTtlSeconds: positiveDuration('agentSvidTtl', raw.agentSvidTtl ?? d.agentSvidTtl),
    ca: {
      keyAlgorithm: oneOf('ca.keyAlgorithm', ca.keyAlgorithm ?? d.ca.keyAlgorithm, KEY_ALGORITHMS),
      rootTtlSeconds,
      intermediateTtlSeconds,
      upstream: readUpstreamSettings('ca.upstream', ca.upstream ?? d.ca.upstream),
    },
    joinToken: readJoinTokenSettings('joinToken', section('joinToken', raw.joinToken)),
    kubernetes: readKubernetes(section('kubernetes', raw.kubernetes)),
    jwt: readJwt(section('jwt', raw.jwt)),
    policies: readPolicies(section('policies', raw.policies)),
    limits: readCaLimits(section('limits', raw.limits)),
  };
}

function readPolicies(p: Record<string, unknown>): CaPolicyConfig {
  rejectUnknownKeys('policies', p, ['paths', 'kubernetes', 'rootNamespace']);
  const d = CONFIG_DEFAULTS.policies;
  const paths = list('policies.paths', p.paths ?? d.paths).map((file) => path.resolve(file));
  const kubernetes = bool('policies.kubernetes', p.kubernetes ?? d.kubernetes);
  if (kubernetes && paths.length > 0) {
    // Two sources would overwrite each other's set; one source of truth per CA.
    throw new ConfigError('policies.kubernetes', 'set either policies.paths or policies.kubernetes, not both');
  }
  const rootNamespace = str('policies.rootNamespace', p.rootNamespace ?? d.rootNamespace);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(rootNamespace)) {
    throw new ConfigError('policies.rootNamespace', `expected a Kubernetes namespace name (lower-case DNS label), got "${rootNamespace}"`);
  }
  return { paths, kubernetes, rootNamespace };
}

function readJwt(j: Record<string, unknown>): CaServerConfig['jwt'] {
  rejectUnknownKeys('jwt', j, ['keyAlgorithm', 'defaultTtl', 'maxTtl', 'keyLifetime']);
  const d = CONFIG_DEFAULTS.jwt;
  const maxTtlSeconds = wholeSeconds('jwt.maxTtl', j.maxTtl ?? d.maxTtl);
  const defaultTtlSeconds = wholeSeconds('jwt.defaultTtl', j.defaultTtl ?? d.defaultTtl);
  if (defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError('jwt.defaultTtl', `must not exceed jwt.maxTtl (${maxTtlSeconds}s)`);
  }
  const keyLifetimeSeconds = wholeSeconds('jwt.keyLifetime', j.keyLifetime ?? d.keyLifetime);
  if (keyLifetimeSeconds < Math.max(60, maxTtlSeconds)) {
    // A retired key stays published for jwt.maxTtl; this keeps the bundle at a few JWT keys.
    throw new ConfigError('jwt.keyLifetime', `must be at least 1m and at least jwt.maxTtl (${maxTtlSeconds}s)`);
  }
  return {
    keyAlgorithm: oneOf('jwt.keyAlgorithm', j.keyAlgorithm ?? d.keyAlgorithm, JWT_ALGORITHMS),
    defaultTtlSeconds,
    maxTtlSeconds,
    keyLifetimeSeconds,
  };
}

function readKubernetes(k: Record<string, unknown>): KubernetesAttestationConfig {
  rejectUnknownKeys('kubernetes', k, [
    'mode', 'audiences', 'kubeconfig', 'issuer', 'jwksFile', 'oidcDiscoveryUrl', 'caFile', 'trustedNodeAccounts', 'reviewCacheTtl', 'bundleConfigMap',
  ]);
  const mode = oneOf('kubernetes.mode', k.mode ?? CONFIG_DEFAULTS.kubernetes.mode, ['disabled', ...TOKEN_VERIFIER_TYPES]);
  const cfg: KubernetesAttestationConfig = {
    mode,
    audiences: list('kubernetes.audiences', k.audiences ?? CONFIG_DEFAULTS.kubernetes.audiences),
    kubeconfig: str('kubernetes.kubeconfig', k.kubeconfig ?? ''),
    trustedNodeAccounts: list('kubernetes.trustedNodeAccounts', k.trustedNodeAccounts ?? []),
    verifier: mode === 'disabled' ? {} : readTokenVerifierSettings('kubernetes', mode, k),
    bundleConfigMap: readBundleConfigMap('kubernetes.bundleConfigMap', k.bundleConfigMap),
  };
  if (cfg.mode !== 'disabled' && cfg.audiences.length === 0) {
    throw new ConfigError('kubernetes.audiences', 'at least one audience is required so tokens minted for other services are refused');
  }
  for (const [i, account] of cfg.trustedNodeAccounts.entries()) {
    if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(account)) {
      throw new ConfigError(`kubernetes.trustedNodeAccounts[${i}]`, `expected "namespace/serviceaccount", got "${account}"`);
    }
  }
  return cfg;
}

function readAuditLog(value: unknown, dataDir: string): string {
  const file = str('auditLog', value ?? path.join(dataDir, 'audit.log'));
  if (file === '') throw new ConfigError('auditLog', 'must be a file path or "-" for standard output; the audit log cannot be turned off');
  return file === '-' ? file : path.resolve(file);
}

function readTrustDomain(value: unknown): TrustDomain {
  try {
    return TrustDomain.parse(str('trustDomain', value));
  } catch (err) {
    throw new ConfigError('trustDomain', (err as Error).message);
  }
}

function positiveDuration(key: string, value: unknown): number {
  const seconds = durationSeconds(key, value);
  if (seconds <= 0) throw new ConfigError(key, 'must be greater than zero');
  return seconds;
}

/** JWT times are whole seconds (NumericDate), so their durations are too. */
function wholeSeconds(key: string, value: unknown): number {
  const seconds = positiveDuration(key, value);
  if (!Number.isInteger(seconds)) throw new ConfigError(key, `must be a whole number of seconds, got ${seconds}s`);
  return seconds;
}

