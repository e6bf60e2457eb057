import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { openAuditLog } from '../core/audit.js';
import { TrustBundle } from '../core/bundle.js';
import { CappedGrpcServer } from '../core/capped-grpc-server.js';
import { startOpsServer, type OpsServer } from '../core/ops-server.js';
import { writeFileAtomic } from '../core/x509/key-file.js';
import { createTokenReviewVerifier } from '../plugins/attestor/k8s-tokenreview/tokenreview-verifier.js';
import { createJwtVerifier } from '../plugins/attestor/k8s-jwt/jwt-verifier.js';
import { JoinTokenAttestor } from '../plugins/attestor/join-token/join-token-attestor.js';
import { createUpstreamAuthority } from '../plugins/upstream/index.js';
import type { ProtoGrpcType as AdminProto } from '../protos/gen/admin.js';
import type { ProtoGrpcType as AgentProto } from '../protos/gen/agent.js';
import type { ProtoGrpcType as IstioProto } from '../protos/gen/ca.js';
import type { TrustBundle as TrustBundleMessage } from '../protos/gen/meshid/v1/TrustBundle.js';
import { loadProto } from '../protos/load.js';
import { adminService } from './api/admin-service.js';
import { AgentStreams } from './api/agent-streams.js';
import { istioCaService } from './api/istio-ca-service.js';
import { nodeAgentService } from './api/node-agent-service.js';
import type { ServiceAccountTokenVerifier } from './attestation/attestor.js';
import { CallerAttestation } from './attestation/caller.js';
import type { RejectedTokensConfig } from './attestation/rejected-tokens.js';
import { BundleAcks } from './authority/bundle-acks.js';
import { JwtKeyManager } from './authority/jwt-keys.js';
import { AuthorityManager } from './authority/manager.js';
import { RootRotation } from './authority/root-rotation.js';
import { fingerprint } from './authority/signing-authority.js';
import type { CaServerConfig, KubernetesAttestationConfig } from './config.js';
import type { DataStore } from './datastore/datastore.js';
import { SqliteDataStore } from './datastore/sqlite.js';
import { JwtSvidIssuer } from './issuance/jwt-svid-issuer.js';
import { CallLimits } from './limits/call-limits.js';
import { X509SvidIssuer } from './issuance/x509-svid-issuer.js';
import { CaMetrics } from './metrics.js';
import { startPolicyDistribution, type PolicyDistribution } from './policy-distribution.js';
import { caNotReady } from './readiness.js';
import { ServingIdentity } from './serving-identity.js';

export interface CaServer {
  /** Bound port of the TLS gRPC listener (useful with port 0). */
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly adminSocket: string;
  /** <dataDir>/bundle.pem, rewritten on every bundle change. */
  readonly bundleFile: string;
  readonly metrics: CaMetrics;
  readonly authorities: AuthorityManager;
  readonly jwtKeys: JwtKeyManager;
  /** Root rotation (meshid ca rotate) and the agents' bundle acknowledgements it waits for. */
  readonly rootRotation: RootRotation;
  readonly store: DataStore;
  /** Authorization policies streamed to node agents (WatchPolicies). */
  readonly policies: PolicyDistribution;
  bundle(): TrustBundle;
  /** Graceful: stops accepting, lets in-flight calls finish, removes the admin socket. */
  close(): Promise<void>;
}

/** Grace period for in-flight calls on shutdown before they are cancelled. */
const SHUTDOWN_GRACE_MS = 10_000;
const BUNDLE_REFRESH_HINT_SECONDS = 300;

export async function startCaServer(config: CaServerConfig, log: Logger): Promise<CaServer> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = SqliteDataStore.open(config.dataDir);
  const audit = openAuditLog(config.auditLog);
  // Created first so the upstream can count its failures; the authority gauges are only read at scrape time.
  const metrics = new CaMetrics({
    expiries: () => authorities.expiries(),
    authorities: () => authorities.rootRotation().authorities,
    rootRotationPhase: () => authorities.rootRotation().phase,
    staleAgents: () => rootRotation.staleAgents(),
  });
  const upstream = createUpstreamAuthority(config.ca.upstream, {
    dataDir: config.dataDir,
    trustDomain: config.trustDomain,
    keyAlgorithm: config.ca.keyAlgorithm,
    rootTtlSeconds: config.ca.rootTtlSeconds,
    log,
    registry: metrics.registry,
  });
  await upstream.start();
  const authorities = new AuthorityManager({
    dataDir: config.dataDir,
    trustDomain: config.trustDomain,
    store,
    upstream,
    keyAlgorithm: config.ca.keyAlgorithm,
    intermediateTtlSeconds: config.ca.intermediateTtlSeconds,
    maxSvidTtlSeconds: config.svid.maxTtlSeconds,
    onError: (err) => log.error({ err }, 'signing CA rotation step failed; will retry'),
  });
  await authorities.start();
  const jwtKeys = new JwtKeyManager({
    dataDir: config.dataDir,
    store,
    algorithm: config.jwt.keyAlgorithm,
    keyLifetimeSeconds: config.jwt.keyLifetimeSeconds,
    maxTokenTtlSeconds: config.jwt.maxTtlSeconds,
    onError: (err) => log.error({ err }, 'JWT key rotation step failed; will retry'),
  });
  await jwtKeys.start();

  // Trust bundle: rebuilt (and bundle.pem rewritten) whenever the authorities or the JWT keys change.
  const bundleFile = path.join(config.dataDir, 'bundle.pem');
  let sequence = Math.floor(Date.now() / 1000);
  const buildBundle = () =>
    new TrustBundle({
      trustDomain: config.trustDomain,
      x509Authorities: authorities.trustBundle().roots.map((root) => Buffer.from(root.rawData)),
      jwtAuthorities: jwtKeys.bundleKeys(),
      sequence: sequence++,
      refreshHintSeconds: BUNDLE_REFRESH_HINT_SECONDS,
    });
  // Which agents applied which bundle: a root rotation activates only once the new root reached them all.
  const acks = new BundleAcks();
  const rootRotation = new RootRotation({ authorities, acks, store });
  const noteBundle = (b: TrustBundle) => acks.publish(b.sequence ?? 0, authorities.trustBundle().roots.map(fingerprint));
  let bundle = buildBundle();
  noteBundle(bundle);
  // Encoded once per bundle change: every CreateCertificate answer ends with it.
  let bundlePem = bundle.toPem();
  await writeFileAtomic(bundleFile, bundlePem, 0o644);
  let issuers = await signingCertificates(store);
  const bundleListeners = new Set<() => void>();
  // Open WatchBundle streams: close() ends them once the listener accepts no new calls.
  const shutdownListeners = new Set<() => void>();
  let shuttingDown = false;
  const publishBundle = async () => {
    bundle = buildBundle();
    noteBundle(bundle);
    bundlePem = bundle.toPem();
    await writeFileAtomic(bundleFile, bundlePem, 0o644);
    for (const listener of bundleListeners) listener();
  };

  const issuer = new X509SvidIssuer(authorities, config.svid, (s) => metrics.signingSeconds.observe(s));
  const serving = new ServingIdentity({
    spiffeId: config.trustDomain.spiffeId('/meshid/server'),
    dnsNames: config.serverDnsNames,
    issuer,
    rootBundlePem: () => bundlePem,
    log,
  });
  await serving.refresh();

  const unsubscribeAuthorities = authorities.onChange((change) => {
    void (async () => {
      issuers = await signingCertificates(store);
      // A new signing CA is announced too: the message names the active root, and agents re-issue when it changes.
      if (change.bundleChanged || change.activeChanged) await publishBundle();
      if (change.activeChanged || change.bundleChanged) await serving.refresh();
      log.info({ active: change.active.id, roots: bundle.x509Authorities.length }, 'signing authorities changed');
    })().catch((err: unknown) => log.error({ err }, 'applying an authority change failed'));
  });
  const unsubscribeJwtKeys = jwtKeys.onChange(() => {
    publishBundle().then(
      () => log.info({ jwtKeys: bundle.jwtAuthorities.map((k) => k.keyId) }, 'JWT signing keys changed'),
      (err: unknown) => log.error({ err }, 'publishing a JWT key change failed'),
    );
  });

  const joinTokens = new JoinTokenAttestor({
    store,
    trustDomain: config.trustDomain,
    defaultTtlSeconds: config.joinToken.defaultTtlSeconds,
    maxTtlSeconds: config.joinToken.maxTtlSeconds,
  });
  const attestation = new CallerAttestation({
    trustDomain: config.trustDomain,
    store,
    serviceAccounts: await serviceAccountVerifier(config.kubernetes, config.limits.rejectedTokens),
    joinTokens,
    trustedNodeAccounts: config.kubernetes.trustedNodeAccounts,
    issuers: () => issuers,
    onFailure: (reason) => metrics.authFailures.inc({ reason }),
  });

  const policies = await startPolicyDistribution(config.policies, { kubeconfig: config.kubernetes.kubeconfig, log, registry: metrics.registry });

  // Public TLS listener: Istio CA API + meshid node-agent API.
  const agentStreams = new AgentStreams();
  const limits = new CallLimits(config.limits, (limit) => metrics.rateLimited.inc({ limit }));
  const refused = (limit: string) => () => metrics.rateLimited.inc({ limit });
  const grpcServer = new CappedGrpcServer(config.limits.grpc, { 'grpc.keepalive_permit_without_calls': 1 }, refused('grpc.maxConnections'));
  const istio = loadProto<IstioProto>('istio/v1/auth/ca.proto');
  const agentApi = loadProto<AgentProto>('meshid/v1/agent.proto');
  grpcServer.addService(
    istio.istio.v1.auth.IstioCertificateService.service,
    istioCaService({ attestation, issuer, rootBundlePem: () => bundlePem, audit, limits, metrics, log }),
  );
  grpcServer.addService(
    agentApi.meshid.v1.NodeAgentService.service,
    nodeAgentService({
      attestation,
      issuer,
      jwtIssuer: new JwtSvidIssuer(jwtKeys, config.jwt),
      store,
      agentSvidTtlSeconds: Math.min(config.agentSvidTtlSeconds, config.svid.maxTtlSeconds),
      bundle: () => bundleMessage(bundle, authorities.activeRootId()),
      onBundleChange: (listener) => {
        bundleListeners.add(listener);
        return () => bundleListeners.delete(listener);
      },
      acknowledgeBundle: (agentId, sequence) => acks.acknowledge(agentId, sequence),
      policies: () => policies.current(),
      onPoliciesChange: (listener) => policies.onChange(listener),
      onShutdown: (listener) => {
        if (shuttingDown) listener();
        shutdownListeners.add(listener);
        return () => shutdownListeners.delete(listener);
      },
      streams: agentStreams,
      audit,
      limits,
      metrics,
      log,
    }),
  );
  // Client certificates are requested but not required: renewal callers present their SVID, others a token.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(serving.tls, serving.tls, false);
  const grpcPort = await grpcServer.listen(config.listen.grpc, credentials);

  // Admin API: local Unix socket, owner only.
  const adminServer = new CappedGrpcServer(config.limits.adminSocket, {}, refused('adminSocket.maxConnections'));
  const admin = loadProto<AdminProto>('meshid/v1/admin.proto');
  adminServer.addService(
    admin.meshid.v1.AdminService.service,
    adminService({
      trustDomain: config.trustDomain,
      store,
      joinTokens,
      bundle: (format) => (format === 'pem' ? bundlePem : JSON.stringify(bundle.toJwks(), null, 2)),
      rotation: rootRotation,
      serverDnsNames: config.serverDnsNames,
      streams: agentStreams,
      audit,
      log,
    }),
  );
  await mkdir(path.dirname(config.listen.adminSocket), { recursive: true, mode: 0o700 });
  await rm(config.listen.adminSocket, { force: true });
  await adminServer.listen({ path: config.listen.adminSocket }, grpc.ServerCredentials.createInsecure());
  await chmod(config.listen.adminSocket, 0o600);

  let ready = true;
  const ops: OpsServer = await startOpsServer({
    host: config.listen.metrics.host,
    port: config.listen.metrics.port,
    registry: metrics.registry,
    limits: config.limits.metrics,
    onConnectionRefused: refused('metrics.maxConnections'),
    readiness: () => (ready ? caNotReady(authorities, store) : 'shutting down'),
  });

  log.info(
    { trustDomain: config.trustDomain.name, grpcPort, metricsPort: ops.port, adminSocket: config.listen.adminSocket },
    'meshid CA server started',
  );

  return {
    grpcPort,
    metricsPort: ops.port,
    adminSocket: config.listen.adminSocket,
    bundleFile,
    metrics,
    authorities,
    jwtKeys,
    rootRotation,
    store,
    policies,
    bundle: () => bundle,
    async close() {
      ready = false;
      unsubscribeAuthorities();
      unsubscribeJwtKeys();
      policies.close();
      serving.close();
      const stopped = Promise.all([shutdown(grpcServer), shutdown(adminServer)]);
      shuttingDown = true;
      for (const listener of shutdownListeners) listener();
      await stopped;
      await rm(config.listen.adminSocket, { force: true });
      await ops.close();
      await authorities.close();
      await jwtKeys.close();
      await upstream.close();
      await store.close();
      await audit.close();
      log.info('meshid CA server stopped');
    },
  };
}

/** tryShutdown lets in-flight calls finish; after the grace period the rest are cancelled. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Every signing CA that may have issued a still-valid SVID: verifies mTLS callers across rotation. */
async function signingCertificates(store: DataStore): Promise<X509Certificate[]> {
  const now = Date.now();
  return (await store.listAuthorities({ kind: 'intermediate' }))
    .filter((a) => a.state !== 'prepared' && a.notAfter.getTime() > now)
    .map((a) => new X509Certificate(a.certificatePem));
}

async function serviceAccountVerifier(
  k8s: KubernetesAttestationConfig,
  rejectedTokens: RejectedTokensConfig | undefined,
): Promise<ServiceAccountTokenVerifier | undefined> {
  if (k8s.mode === 'tokenreview') return createTokenReviewVerifier({ kubeconfig: k8s.kubeconfig, audiences: k8s.audiences, rejectedTokens });
  if (k8s.mode === 'jwt') {
    return createJwtVerifier({
      issuer: k8s.issuer,
      audiences: k8s.audiences,
      jwksFile: k8s.jwksFile || undefined,
      oidcDiscoveryUrl: k8s.oidcDiscoveryUrl || undefined,
      caFile: k8s.caFile || undefined,
      rejectedTokens,
    });
  }
  return undefined;
}

function bundleMessage(bundle: TrustBundle, activeRootId: string): TrustBundleMessage {
  return {
    trust_domain: bundle.trustDomain.id,
    x509_authorities: [...bundle.x509Authorities],
    jwks: JSON.stringify(bundle.toJwks()),
    sequence: bundle.sequence ?? 0,
    refresh_hint_seconds: bundle.refreshHintSeconds ?? 0,
    active_root_id: activeRootId,
  };
}
