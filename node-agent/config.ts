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
import { readConfigText, readYamlConfigFile } from '../core/config-file.js';
import { DEFAULT_ROOT_NAMESPACE } from '../core/policy/model.js';
import { SpiffeId } from '../core/spiffeid.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../core/x509/keys.js';
import { readAgentLimits, type AgentLimitsConfig } from './limits.js';

export type AgentMode = 'vm' | 'k8s';

export interface NodeAgentConfig {
  /** vm: join-token bootstrap, persisted agent SVID, registration entries; k8s: projected-token attestation. */
  mode: AgentMode;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  server: {
    /**
     * The CA replicas' TLS gRPC addresses ("host:port"), tried in this order; from `server.address`, one
     * address or a list. A name with several DNS addresses reaches each of them as well.
     */
    addresses: string[];
    /** Name checked against every replica's certificate; empty = the host of each address. */
    tlsServerName: string;
    /** PEM roots that authenticate the CA before the agent holds a bundle of its own. */
    trustBundleFile: string;
    callTimeoutMs: number;
  };
  /** VM mode: agent SVID, key and trust bundle persist here (0700 directory, 0600 files). */
  dataDir: string;
  /** Where the workload-facing sockets (SDS, Workload API) are created. */
  socketDir: string;
  /** VM mode, first start only. Never logged. */
  joinToken: string;
  kubernetes: {
    tokenFile: string;
    /**
     * The node this agent runs on (the DaemonSet sets it from the downward API's spec.nodeName). When set, the
     * agent refuses an agent SVID for any other node: a token projected for another node's pod is a
     * misconfiguration (or a copied token), not an identity to serve this node's workloads with.
     */
    nodeName: string;
    /**
     * Workload streams (SDS, Workload API) end at this fraction of the caller's pod token lifetime, so the
     * caller reconnects with the token the kubelet refreshed (at 80%) before the old one expires.
     */
    streamTokenFraction: number;
  };
  rotation: { fraction: number; jitter: number };
  backoff: { initialMs: number; maxMs: number };
  cache: { maxIdentities: number; idleMs: number };
  workload: { keyAlgorithm: KeyAlgorithm; svidTtlSeconds: number };
  entries: { pollIntervalMs: number };
  listen: { ops: { host: string; port: number } };
  /** Envoy ext_authz (envoy.service.auth.v3.Authorization/Check) on a Unix socket. */
  authz: {
    enabled: boolean;
    socket: string;
    /** File mode of the socket: 0600, or e.g. 0660 when Envoy runs as another user in the agent's group. */
    socketMode: number;
    /**
     * Local AuthorizationPolicy YAML files / directories. When set they are the agent's policies (watched)
     * and the CA's policy stream is not followed; when empty the agent enforces the set the CA sends.
     */
    policyPaths: string[];
    /** Root namespace for policyPaths; the CA's set names its own. */
    rootNamespace: string;
    /** SPIFFE ID of the workload protected when Envoy names none; empty = such requests are denied. */
    defaultWorkload: string;
  };
  /** Connection, stream and message caps of the workload sockets and the ops listener. */
  limits: AgentLimitsConfig;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const AGENT_CONFIG_DEFAULTS = {
  mode: 'vm',
  logLevel: 'info',
  server: { address: 'localhost:15012', tlsServerName: '', trustBundleFile: '', callTimeout: '10s' },
  dataDir: './.meshid/agent',
  socketDir: './.meshid/sockets',
  kubernetes: { tokenFile: '/var/run/secrets/tokens/meshid-agent', nodeName: '', streamTokenFraction: 0.9 },
  rotation: { fraction: 0.5, jitter: 0.1 },
  backoff: { initial: '1s', max: '60s' },
  cache: { maxIdentities: 1000, idleTimeout: '10m' },
  workload: { keyAlgorithm: 'ec-p256', svidTtl: 0 },
  entries: { pollInterval: '30s' },
  listen: { ops: '127.0.0.1:15020' },
  authz: { enabled: true, socketName: 'authz.sock', socketMode: '0600', policyPaths: [], rootNamespace: DEFAULT_ROOT_NAMESPACE, defaultWorkload: '' },
} as const;

/**
 * Reads the node agent configuration: defaults < YAML file < MESHID_AGENT_* env < --dotted.flags.
 * Throws ConfigError naming the bad key. The join token may come from `joinToken` or `joinTokenFile`.
 */
export function loadNodeAgentConfig(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string>;
}): NodeAgentConfig {
  const fileValues = readYamlConfigFile(options.file);
  return readNodeAgentConfig(mergeLayers(fileValues, options.env ?? {}, 'MESHID_AGENT_', options.flags ?? {}));
}

export function readNodeAgentConfig(raw: Record<string, unknown>): NodeAgentConfig {
  rejectUnknownKeys('', raw, [
    'mode', 'logLevel', 'server', 'insecureBootstrap', 'dataDir', 'socketDir', 'joinToken', 'joinTokenFile',
    'kubernetes', 'rotation', 'backoff', 'cache', 'workload', 'entries', 'listen', 'authz', 'limits',
  ]);
  const d = AGENT_CONFIG_DEFAULTS;
  if (raw.insecureBootstrap !== undefined && bool('insecureBootstrap', raw.insecureBootstrap)) {
    throw new ConfigError('insecureBootstrap', 'not supported: set server.trustBundleFile to the CA\'s bundle.pem so the first contact is authenticated');
  }
  const mode = oneOf('mode', raw.mode ?? d.mode, ['vm', 'k8s'] as const);
  const dataDir = path.resolve(str('dataDir', raw.dataDir ?? d.dataDir));

  const server = section('server', raw.server);
  rejectUnknownKeys('server', server, ['address', 'tlsServerName', 'trustBundleFile', 'callTimeout']);
  const addresses = readCaAddresses(server.address ?? d.server.address);
  const trustBundleFile = str('server.trustBundleFile', server.trustBundleFile ?? d.server.trustBundleFile);

  const kubernetes = section('kubernetes', raw.kubernetes);
  rejectUnknownKeys('kubernetes', kubernetes, ['tokenFile', 'nodeName', 'streamTokenFraction']);
  const streamTokenFraction = number('kubernetes.streamTokenFraction', kubernetes.streamTokenFraction ?? d.kubernetes.streamTokenFraction);
  if (!(streamTokenFraction > 0 && streamTokenFraction < 1)) {
    throw new ConfigError('kubernetes.streamTokenFraction', 'must be between 0 and 1 (exclusive), e.g. 0.9: after the kubelet refreshes the token at 0.8');
  }
  const rotation = section('rotation', raw.rotation);
  rejectUnknownKeys('rotation', rotation, ['fraction', 'jitter']);
  const fraction = number('rotation.fraction', rotation.fraction ?? d.rotation.fraction);
  const jitter = number('rotation.jitter', rotation.jitter ?? d.rotation.jitter);
  if (fraction <= 0 || fraction >= 1) throw new ConfigError('rotation.fraction', 'must be between 0 and 1 (exclusive), e.g. 0.5');
  if (jitter < 0 || jitter >= Math.min(fraction, 1 - fraction)) {
    throw new ConfigError('rotation.jitter', `must be at least 0 and less than ${Math.min(fraction, 1 - fraction)} so renewal stays inside the lifetime`);
  }

  const backoff = section('backoff', raw.backoff);
  rejectUnknownKeys('backoff', backoff, ['initial', 'max']);
  const initialMs = positiveMs('backoff.initial', backoff.initial ?? d.backoff.initial);
  const maxMs = positiveMs('backoff.max', backoff.max ?? d.backoff.max);
  if (maxMs < initialMs) throw new ConfigError('backoff.max', `must not be below backoff.initial (${initialMs / 1000}s)`);

  const cache = section('cache', raw.cache);
  rejectUnknownKeys('cache', cache, ['maxIdentities', 'idleTimeout']);
  const maxIdentities = number('cache.maxIdentities', cache.maxIdentities ?? d.cache.maxIdentities);
  if (!Number.isInteger(maxIdentities) || maxIdentities < 1) throw new ConfigError('cache.maxIdentities', 'must be a whole number of at least 1');

  const workload = section('workload', raw.workload);
  rejectUnknownKeys('workload', workload, ['keyAlgorithm', 'svidTtl']);
  const entries = section('entries', raw.entries);
  rejectUnknownKeys('entries', entries, ['pollInterval']);
  const listen = section('listen', raw.listen);
  rejectUnknownKeys('listen', listen, ['ops']);
  const socketDir = path.resolve(str('socketDir', raw.socketDir ?? d.socketDir));

  const config: NodeAgentConfig = {
    mode,
    logLevel: oneOf('logLevel', raw.logLevel ?? d.logLevel, LOG_LEVELS),
    server: {
      addresses,
      tlsServerName: str('server.tlsServerName', server.tlsServerName ?? d.server.tlsServerName),
      trustBundleFile: trustBundleFile && path.resolve(trustBundleFile),
      callTimeoutMs: positiveMs('server.callTimeout', server.callTimeout ?? d.server.callTimeout),
    },
    dataDir,
    socketDir,
    joinToken: readJoinToken(raw),
    kubernetes: {
      tokenFile: path.resolve(str('kubernetes.tokenFile', kubernetes.tokenFile ?? d.kubernetes.tokenFile)),
      nodeName: readNodeName(kubernetes.nodeName ?? d.kubernetes.nodeName),
      streamTokenFraction,
    },
    rotation: { fraction, jitter },
    backoff: { initialMs, maxMs },
    cache: { maxIdentities, idleMs: positiveMs('cache.idleTimeout', cache.idleTimeout ?? d.cache.idleTimeout) },
    workload: {
      keyAlgorithm: oneOf('workload.keyAlgorithm', workload.keyAlgorithm ?? d.workload.keyAlgorithm, KEY_ALGORITHMS),
      svidTtlSeconds: Math.round(durationSeconds('workload.svidTtl', workload.svidTtl ?? d.workload.svidTtl)),
    },
    entries: { pollIntervalMs: positiveMs('entries.pollInterval', entries.pollInterval ?? d.entries.pollInterval) },
    listen: { ops: listenAddress('listen.ops', listen.ops ?? d.listen.ops) },
    authz: readAuthz(section('authz', raw.authz), socketDir),
    limits: readAgentLimits(section('limits', raw.limits)),
  };
  if (mode === 'k8s' && config.joinToken) {
    throw new ConfigError('joinToken', 'join tokens are for mode vm; in mode k8s the agent attests with kubernetes.tokenFile');
  }
  return config;
}

/**
 * `server.address`: one "host:port" or a list of them (YAML, or comma-separated in env and flags), one per CA
 * replica or one DNS name for all of them. Each must be the CA: the server SPIFFE ID is checked at every one.
 */
function readCaAddresses(value: unknown): string[] {
  const addresses = list('server.address', value);
  if (addresses.length === 0) throw new ConfigError('server.address', 'expected at least one "host:port" of the CA');
  addresses.forEach((address, i) => {
    const port = /^(?:\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(address)?.[1];
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      const key = Array.isArray(value) ? `server.address[${i}]` : 'server.address';
      throw new ConfigError(key, `expected "host:port" of the CA (e.g. "meshid-ca.meshid-system.svc:15012"), got "${address}"`);
    }
    if (addresses.indexOf(address) !== i) throw new ConfigError('server.address', `"${address}" is listed twice`);
  });
  return addresses;
}

/** A Kubernetes node name is a DNS subdomain (RFC 1123), at most 253 characters. */
function readNodeName(value: unknown): string {
  const name = str('kubernetes.nodeName', value);
  if (name !== '' && (name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name))) {
    throw new ConfigError('kubernetes.nodeName', `"${name}" is not a Kubernetes node name (lowercase RFC 1123 subdomain)`);
  }
  return name;
}

function readAuthz(a: Record<string, unknown>, socketDir: string): NodeAgentConfig['authz'] {
  rejectUnknownKeys('authz', a, ['enabled', 'socket', 'socketMode', 'policyPaths', 'rootNamespace', 'defaultWorkload']);
  const d = AGENT_CONFIG_DEFAULTS.authz;
  const rootNamespace = str('authz.rootNamespace', a.rootNamespace ?? d.rootNamespace);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(rootNamespace)) {
    throw new ConfigError('authz.rootNamespace', `expected a Kubernetes namespace name (lower-case DNS label), got "${rootNamespace}"`);
  }
  const defaultWorkload = str('authz.defaultWorkload', a.defaultWorkload ?? d.defaultWorkload);
  if (defaultWorkload) {
    try {
      SpiffeId.parse(defaultWorkload);
    } catch (err) {
      throw new ConfigError('authz.defaultWorkload', `expected the SPIFFE ID of the protected workload: ${(err as Error).message}`);
    }
  }
  return {
    enabled: bool('authz.enabled', a.enabled ?? d.enabled),
    socket: path.resolve(str('authz.socket', a.socket ?? path.join(socketDir, d.socketName))),
    socketMode: socketMode('authz.socketMode', a.socketMode ?? d.socketMode),
    policyPaths: list('authz.policyPaths', a.policyPaths ?? d.policyPaths).map((p) => path.resolve(p)),
    rootNamespace,
    defaultWorkload,
  };
}

/** "0600" / "0660": read and write for the owner, never execute bits. A string, so YAML cannot read it as decimal. */
function socketMode(key: string, value: unknown): number {
  if (typeof value !== 'string' || !/^0?[0-7]{3}$/.test(value)) {
    throw new ConfigError(key, `expected an octal file mode in quotes, e.g. "0600" or "0660", got ${JSON.stringify(value) ?? 'nothing'}`);
  }
  const mode = parseInt(value, 8);
  if ((mode & 0o600) !== 0o600 || (mode & 0o111) !== 0) {
    throw new ConfigError(key, `must let the agent read and write the socket and set no execute bits, e.g. "0600" or "0660", got "${value}"`);
  }
  return mode;
}

/** The join token from `joinToken` or the first line of `joinTokenFile` (not both). */
function readJoinToken(raw: Record<string, unknown>): string {
  const inline = raw.joinToken === undefined ? '' : str('joinToken', raw.joinToken).trim();
  const file = raw.joinTokenFile === undefined ? '' : str('joinTokenFile', raw.joinTokenFile);
  if (inline && file) throw new ConfigError('joinTokenFile', 'set either joinToken or joinTokenFile, not both');
  if (!file) return inline;
  const token = readConfigText('joinTokenFile', path.resolve(file)).split('\n')[0]!.trim();
  if (!token) throw new ConfigError('joinTokenFile', `${file} is empty`);
  return token;
}

function number(key: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new ConfigError(key, `expected a number, got ${JSON.stringify(value) ?? 'nothing'}`);
  return n;
}

function positiveMs(key: string, value: unknown): number {
  const seconds = durationSeconds(key, value);
  if (seconds <= 0) throw new ConfigError(key, 'must be greater than zero');
  return Math.round(seconds * 1000);
}
