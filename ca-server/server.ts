import { SERVER_PATH } from '../core/reserved-ids.js';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { openAuditLog } from '../core/audit.js';
import type { TrustBundle } from '../core/bundle.js';
import { CappedGrpcServer } from '../core/capped-grpc-server.js';
import { startOpsServer, type OpsServer } from '../core/ops-server.js';
import type { ProtoGrpcType as AdminProto } from '../protos/gen/admin.js';
import type { ProtoGrpcType as AgentProto } from '../protos/gen/agent.js';
import type { ProtoGrpcType as IstioProto } from '../protos/gen/ca.js';
import { loadProto } from '../protos/load.js';
import { adminService } from './api/admin-service.js';
import { AgentStreams } from './api/agent-streams.js';
import { istioCaService } from './api/istio-ca-service.js';
import { nodeAgentService } from './api/node-agent-service.js';
import { CallerAttestation } from './attestation/caller.js';
import { BundleAcks } from './authority/bundle-acks.js';
import { JwtKeyManager } from './authority/jwt-keys.js';
import { AuthorityManager } from './authority/manager.js';
import { RootRotation } from './authority/root-rotation.js';
import { startBundlePublication } from './bundle-publication/publication.js';
import type { CaServerConfig } from './config.js';
import type { DataStore } from './datastore/datastore.js';
import { openDataStore } from './datastore/open-datastore.js';
import { JwtSvidIssuer } from './issuance/jwt-svid-issuer.js';
import { CallLimits } from './limits/call-limits.js';
import { X509SvidIssuer } from './issuance/x509-svid-issuer.js';
import { createJoinTokenAttestor, createTokenVerifier, createUpstreamAuthority } from './plugin-catalog.js';
import { CaMetrics } from './metrics.js';
import { startPolicyDistribution, type PolicyDistribution } from './policy-distribution.js';
import { caNotReady } from './readiness.js';
import { ServingIdentity } from './serving-identity.js';
import { TrustBundleState } from './trust-bundle-state.js';

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

export async function startCaServer(config: CaServerConfig, log: Logger): Promise<CaServer> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openDataStore(config);
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

  // Which agents applied which bundle: a root rotation activates only once the new root reached them all.
  const acks = new BundleAcks();
  const rootRotation = new RootRotation({ authorities, acks, store });
  // Trust bundle: rebuilt (and bundle.pem rewritten) whenever the authorities or the JWT keys change.
  const bundleFile = path.join(config.dataDir, 'bundle.pem');
  const bundle = await TrustBundleState.open({ trustDomain: config.trustDomain, bundleFile, authorities, jwtKeys, store, acks, log });
  // Open WatchBundle streams: close() ends them once the listener accepts no new calls.
  const shutdownListeners = new Set<() => void>();
  let shuttingDown = false;

  const issuer = new X509SvidIssuer(authorities, config.svid, (s) => metrics.signingSeconds.observe(s));
  const serving = new ServingIdentity({
    spiffeId: config.trustDomain.spiffeId(SERVER_PATH),
    dnsNames: config.serverDnsNames,
    issuer,
    rootBundlePem: () => bundle.pem(),
    log,
  });
  await serving.refresh();
  // Re-issued under the new signing CA, trusting the new roots, once the bundle announcing them is out.
  const unsubscribeServing = bundle.onChange((cause) => {
    if (cause === 'authorities') serving.refresh().catch((err: unknown) => log.error({ err }, 'applying an authority change failed'));
  });

  const joinTokens = createJoinTokenAttestor(config.joinToken, { store, trustDomain: config.trustDomain });
  const attestation = new CallerAttestation({
    trustDomain: config.trustDomain,
    store,
    serviceAccounts:
      config.kubernetes.mode === 'disabled'
        ? undefined
        : await createTokenVerifier(config.kubernetes.mode, config.kubernetes.verifier, {
            audiences: config.kubernetes.audiences,
            kubeconfig: config.kubernetes.kubeconfig,
            rejectedTokens: config.limits.rejectedTokens,
          }),
    joinTokens,
    trustedNodeAccounts: config.kubernetes.trustedNodeAccounts,
    issuers: () => bundle.issuers(),
    onFailure: (reason) => metrics.authFailures.inc({ reason }),
  });

  const policies = await startPolicyDistribution(config.policies, { kubeconfig: config.kubernetes.kubeconfig, log, registry: metrics.registry });
  const bundlePublication = config.kubernetes.bundleConfigMap.enabled
    ? startBundlePublication(config.kubernetes.bundleConfigMap, { kubeconfig: config.kubernetes.kubeconfig, bundle, log, registry: metrics.registry })
    : undefined;

  // Public TLS listener: Istio CA API + meshid node-agent API.
  const agentStreams = new AgentStreams();
  const limits = new CallLimits(config.limits, (limit) => metrics.rateLimited.inc({ limit }));
  const refused = (limit: string) => () => metrics.rateLimited.inc({ limit });
  const grpcServer = new CappedGrpcServer(config.limits.grpc, { 'grpc.keepalive_permit_without_calls': 1 }, refused('grpc.maxConnections'));
  const istio = loadProto<IstioProto>('istio/v1/auth/ca.proto');
  const agentApi = loadProto<AgentProto>('meshid/v1/agent.proto');
  grpcServer.addService(
    istio.istio.v1.auth.IstioCertificateService.service,
    istioCaService({ attestation, issuer, rootBundlePem: () => bundle.pem(), audit, limits, metrics, log }),
  );
  grpcServer.addService(
    agentApi.meshid.v1.NodeAgentService.service,
    nodeAgentService({
      attestation,
      issuer,
      jwtIssuer: new JwtSvidIssuer(jwtKeys, config.jwt),
      store,
      agentSvidTtlSeconds: Math.min(config.agentSvidTtlSeconds, config.svid.maxTtlSeconds),
      bundle: () => bundle.message(),
      onBundleChange: (listener) => bundle.onChange(listener),
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
      bundle: (format) => bundle.document(format),
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
    bundle: () => bundle.current(),
    async close() {
      ready = false;
      unsubscribeServing();
      await bundlePublication?.close();
      bundle.close();
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
