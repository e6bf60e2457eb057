import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../core/config-values.js';
import { startOpsServer, type OpsServer } from '../core/ops-server.js';
import { watchPolicyFiles, type PolicyFileSource } from '../core/policy/file-source.js';
import { PolicyStore } from '../core/policy/store.js';
import { SpiffeId } from '../core/spiffeid.js';
import { AgentIdentity } from './agent-identity.js';
import { AgentIdentitySource } from './agent-identity-source.js';
import { BUNDLE_PEM_FILE, BundleWatcher } from './bundle-watcher.js';
import { CaClient } from './ca-client.js';
import type { NodeAgentConfig } from './config.js';
import { AgentEntries } from './entries.js';
import { startExtAuthzServer, type ExtAuthzServer } from './ext-authz/server.js';
import type { IdentitySource } from './identity-source.js';
import { JwtSvidCache } from './jwt-svid-cache.js';
import { AgentMetrics } from './metrics.js';
import { PolicyWatcher } from './policy-watcher.js';
import { startWorkloadEndpoints, type WorkloadEndpoints } from './sockets/workload-endpoints.js';
import { SvidCache } from './svid-cache.js';

export interface NodeAgent {
  readonly config: NodeAgentConfig;
  readonly source: IdentitySource;
  readonly identity: AgentIdentity;
  readonly bundles: BundleWatcher;
  readonly svids: SvidCache;
  /** VM mode only. */
  readonly entries: AgentEntries | undefined;
  readonly metrics: AgentMetrics;
  /** The SDS + Workload API sockets; undefined when started with `sockets: false`. */
  readonly endpoints: WorkloadEndpoints | undefined;
  /** The authorization policies the ext_authz socket enforces (authz.policyPaths, else the CA's stream). */
  readonly policies: PolicyStore;
  /** Follows the CA's policy stream; undefined when authz is disabled or authz.policyPaths is set. */
  readonly policyWatcher: PolicyWatcher | undefined;
  /** The ext_authz socket; undefined when authz is disabled. */
  readonly authz: ExtAuthzServer | undefined;
  /** Bound port of /metrics /healthz /readyz (useful with port 0). */
  readonly opsPort: number;
  /** null when ready, else why not (the /readyz answer). */
  notReady(): string | null;
  /** Stops the servers, timers and streams; in-flight CA calls finish on their own. */
  close(): Promise<void>;
}

/** When the CA starts signing under another root, every SVID is re-issued at a random point within this window. */
export const ROOT_CHANGE_REISSUE_WINDOW_MS = 5_000;

/**
 * Starts the node agent: authenticates the CA with the bootstrap (or persisted) bundle, gets the agent
 * SVID, follows the bundle and (VM) the registration entries, and serves workload SVIDs through the
 * IdentitySource on the workload sockets under config.socketDir (one per entry selector set in VM mode,
 * kept in step with the entries). `sockets: false` leaves the sockets out (tests of the core).
 * Rejects when the agent cannot attest at all (no join token, expired SVID, refused credential); a CA that
 * is merely unreachable is retried in the background.
 */
export async function startNodeAgent(config: NodeAgentConfig, log: Logger, options: { sockets?: boolean } = {}): Promise<NodeAgent> {
  const vm = config.mode === 'vm';
  if (vm) await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  const ca = new CaClient({
    addresses: config.server.addresses,
    tlsServerName: config.server.tlsServerName,
    callTimeoutMs: config.server.callTimeoutMs,
    reconnectBackoff: config.backoff,
  });
  ca.setTrustAnchors(await bootstrapTrust(config));

  const bundles = new BundleWatcher({ ca, persistDir: vm ? config.dataDir : undefined, backoff: config.backoff, log });
  const identity = new AgentIdentity({
    mode: config.mode,
    dataDir: config.dataDir,
    joinToken: config.joinToken,
    k8sTokenFile: config.kubernetes.tokenFile,
    k8sNodeName: config.kubernetes.nodeName,
    ca,
    rotation: config.rotation,
    backoff: config.backoff,
    onBundle: (bundle) => bundles.apply(bundle),
    log,
  });
  const svids = new SvidCache({
    ca,
    keyAlgorithm: config.workload.keyAlgorithm,
    ttlSeconds: config.workload.svidTtlSeconds,
    rotation: config.rotation,
    backoff: config.backoff,
    maxIdentities: config.cache.maxIdentities,
    idleMs: config.cache.idleMs,
    log,
  });
  const metrics = new AgentMetrics({
    cachedSvids: () => svids.size,
    earliestExpiry: (kind) => (kind === 'agent' ? identity.current()?.notAfter : svids.earliestExpiry()),
  });
  countEvents(metrics, identity, bundles, svids);
  // Root rotation activated: nothing may keep chaining to the old root, so every SVID is re-issued now.
  bundles.on('signing-root-change', () => {
    svids.reissueAll(ROOT_CHANGE_REISSUE_WINDOW_MS);
    identity.renewWithin(ROOT_CHANGE_REISSUE_WINDOW_MS);
  });

  try {
    await identity.start();
  } catch (err) {
    svids.close();
    ca.close();
    throw err;
  }
  const agentId = identity.current()?.spiffeId;
  if (agentId) await bundles.restore(SpiffeId.parse(agentId).trustDomain);
  bundles.start();

  // One source of policies: local files when configured (the CA's set is then ignored), else the CA's stream.
  // A union would need rules for a name defined twice and for one source failing while the other does not.
  const policies = new PolicyStore({ rootNamespace: config.authz.rootNamespace });
  let policyFiles: PolicyFileSource | undefined;
  let policyWatcher: PolicyWatcher | undefined;
  if (config.authz.enabled && config.authz.policyPaths.length > 0) {
    policyFiles = watchPolicyFiles({ paths: config.authz.policyPaths, store: policies, log });
    await policyFiles.initial.catch(() => undefined); // logged by the source; every request is denied until a good set loads
  } else if (config.authz.enabled) {
    policyWatcher = new PolicyWatcher({ ca, store: policies, persistDir: vm ? config.dataDir : undefined, backoff: config.backoff, log });
    policyWatcher.on('applied', () => metrics.policyUpdates.inc({ result: 'applied' }));
    policyWatcher.on('rejected', () => metrics.policyUpdates.inc({ result: 'rejected' }));
    await policyWatcher.restore();
    policyWatcher.start();
  }

  const entries = vm ? new AgentEntries({ ca, pollIntervalMs: config.entries.pollIntervalMs, log }) : undefined;
  entries?.on('change', (removed) => svids.drop(removed));
  entries?.start();
  const source = new AgentIdentitySource({
    mode: config.mode,
    svids,
    bundles,
    entries,
    ca,
    jwts: new JwtSvidCache(config.cache.maxIdentities),
    log,
  });

  const notReady = () => {
    if (!identity.current()) return 'no agent SVID yet (attesting to the CA)';
    if (identity.secondsLeft() === 0) return 'the agent SVID has expired';
    if (!bundles.current()) return 'no trust bundle yet';
    return null;
  };
  let endpoints: WorkloadEndpoints | undefined;
  let authz: ExtAuthzServer | undefined;
  let ops: OpsServer | undefined;
  /** Stops everything started so far, servers first; used by close() and by a failed start. */
  const stopParts = async () => {
    await authz?.close();
    await endpoints?.close();
    policyFiles?.close();
    await policyWatcher?.close();
    entries?.close();
    await bundles.close();
    svids.close();
    identity.close();
    ca.close();
  };
  try {
    if (options.sockets !== false) {
      const started = await startWorkloadEndpoints({
        socketDir: config.socketDir,
        mode: config.mode,
        source,
        log,
        metrics: metrics.registry,
        limits: config.limits.workloadSockets,
        tokenStreamFraction: config.kubernetes.streamTokenFraction,
        onConnectionRefused: () => metrics.rateLimited.inc({ limit: 'workloadSockets.maxConnections' }),
      });
      endpoints = started;
      if (entries) {
        const follow = () =>
          started.update(entries.selectorSets()).catch((err: unknown) => log.error({ err }, 'updating the workload sockets failed'));
        entries.on('change', follow);
        await follow();
      }
    }
    if (config.authz.enabled) {
      authz = await startExtAuthzServer({
        socketPath: config.authz.socket,
        socketMode: config.authz.socketMode,
        store: policies,
        log,
        registry: metrics.registry,
        ...(config.authz.defaultWorkload ? { defaultWorkload: { spiffeId: config.authz.defaultWorkload, labels: {} } } : {}),
      });
    }
    ops = await startOpsServer({
      ...config.listen.ops,
      registry: metrics.registry,
      readiness: notReady,
      limits: config.limits.ops,
      onConnectionRefused: () => metrics.rateLimited.inc({ limit: 'ops.maxConnections' }),
    });
  } catch (err) {
    await stopParts();
    throw err;
  }
  const opsServer = ops;
  log.info({ mode: config.mode, ca: config.server.addresses, socketDir: config.socketDir, opsPort: opsServer.port }, 'meshid node agent started');

  return {
    config,
    source,
    identity,
    bundles,
    svids,
    entries,
    metrics,
    endpoints,
    policies,
    policyWatcher,
    authz,
    opsPort: opsServer.port,
    notReady,
    async close() {
      await opsServer.close();
      await stopParts();
      log.info('meshid node agent stopped');
    },
  };
}

/** Roots that authenticate the CA on the first call: the bundle a VM agent persisted, else server.trustBundleFile. */
async function bootstrapTrust(config: NodeAgentConfig): Promise<string> {
  const persisted = path.join(config.dataDir, BUNDLE_PEM_FILE);
  const file = config.mode === 'vm' && (await access(persisted).then(() => true, () => false)) ? persisted : config.server.trustBundleFile;
  if (!file) {
    throw new ConfigError('server.trustBundleFile', 'required on first start: the CA\'s trust bundle (PEM), e.g. <CA dataDir>/bundle.pem or "meshid bundle show"');
  }
  const pem = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError('server.trustBundleFile', `cannot read ${file}: ${err.code ?? err.message}`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('server.trustBundleFile', `${file} holds no PEM certificate`);
  return pem;
}

function countEvents(metrics: AgentMetrics, identity: AgentIdentity, bundles: BundleWatcher, svids: SvidCache): void {
  let agentSvids = 0;
  identity.on('rotated', () => {
    if (agentSvids++ > 0) metrics.rotations.inc({ kind: 'agent' });
  });
  identity.on('renewal-failed', (err) => metrics.rotationFailures.inc({ kind: 'agent', reason: err.reason }));
  bundles.on('change', () => metrics.bundleUpdates.inc());
  svids.on('rotated', () => metrics.rotations.inc({ kind: 'workload' }));
  svids.on('rotation-failed', (_key, err) => metrics.rotationFailures.inc({ kind: 'workload', reason: err.reason }));
}
