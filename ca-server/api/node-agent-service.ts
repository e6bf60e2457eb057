import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { resultLabel, toServiceError } from '../../core/grpc-errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import type { NodeAgentServiceHandlers } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import type { PolicySet } from '../../protos/gen/meshid/v1/PolicySet.js';
import type { TrustBundle } from '../../protos/gen/meshid/v1/TrustBundle.js';
import type { X509SVID } from '../../protos/gen/meshid/v1/X509SVID.js';
import type { AttestedIdentity } from '../attestation/attestor.js';
import type { CallerAttestation } from '../attestation/caller.js';
import type { AgentRecord, DataStore } from '../datastore/datastore.js';
import type { JwtSvidIssuer } from '../issuance/jwt-svid-issuer.js';
import type { IssuedX509Svid, X509SvidIssuer } from '../issuance/x509-svid-issuer.js';
import type { CaMetrics } from '../metrics.js';
import { callerCredentials } from './credentials.js';
import { unary } from './handler.js';

export interface NodeAgentServiceDeps {
  attestation: CallerAttestation;
  issuer: X509SvidIssuer;
  jwtIssuer: JwtSvidIssuer;
  store: DataStore;
  agentSvidTtlSeconds: number;
  /** Current bundle message, and a subscription to changes (returns unsubscribe). */
  bundle: () => TrustBundle;
  onBundleChange: (listener: () => void) => () => void;
  /** Records that an agent applied the bundle with this sequence; false for one this server did not publish. */
  acknowledgeBundle: (agentId: string, sequence: number) => boolean;
  /** Current authorization policy set (undefined until the CA has one), and a subscription to changes. */
  policies: () => PolicySet | undefined;
  onPoliciesChange: (listener: () => void) => () => void;
  /** Runs `listener` when the server shuts down (at once if it already does); returns unsubscribe. */
  onShutdown: (listener: () => void) => () => void;
  metrics: CaMetrics;
  log: Logger;
}

const shuttingDown = (what: string) => new MeshidError('UNAVAILABLE', `the CA server is shutting down; reconnect to keep receiving ${what}`);

/** Upper bound on one MintWorkloadSVIDs batch: keeps a single call from monopolising the signer. */
const MAX_BATCH = 100;

/** meshid.v1.NodeAgentService: agent attestation and renewal, workload SVIDs on an agent's behalf, bundle stream. */
export function nodeAgentService(deps: NodeAgentServiceDeps): NodeAgentServiceHandlers {
  const { attestation, issuer, store, log, metrics } = deps;

  /**
   * Issues an agent SVID and records the agent (issuance -> storage). `renewing` is the agent's record when
   * it renews, so attestation facts are kept; a fresh attestation replaces them (and lifts an eviction).
   */
  async function issueAgentSvid(spiffeId: SpiffeId, csrPem: string, attested: AttestedIdentity | AgentRecord) {
    const svid = issuer.issue({ csrPem, spiffeId, ttlSeconds: deps.agentSvidTtlSeconds });
    const now = new Date();
    const renewing = 'attestationType' in attested;
    await store.upsertAgent({
      spiffeId: svid.spiffeId,
      attestationType: renewing ? attested.attestationType : attested.attestor,
      serialNumber: svid.serialHex,
      expiresAt: svid.notAfter,
      attestedAt: renewing ? attested.attestedAt : now,
      lastSeenAt: now,
      selectors: attested.selectors,
    });
    metrics.csrs.inc({ api: 'agent', result: 'issued' });
    return { svid: svidMessage(svid), bundle: deps.bundle() };
  }

  /**
   * A server stream for an authenticated agent: the current message at once (once there is one), then one
   * per change. It never ends by itself: it is ended on shutdown, or the server waits out its grace period.
   */
  function watch<Message>(method: string, what: string, current: () => Message | undefined, onChange: (listener: () => void) => () => void) {
    return (call: ServerWritableStream<unknown, Message>) => {
      attestation.attestAgent(callerCredentials(call)).then(
        () => {
          if (call.cancelled) return;
          const send = () => {
            const message = current();
            if (message !== undefined) call.write(message);
          };
          const unsubscribe = onChange(send);
          send();
          const unwatchShutdown = deps.onShutdown(() => call.emit('error', toServiceError(shuttingDown(what), log, method)));
          const stop = () => {
            unsubscribe();
            unwatchShutdown();
          };
          call.on('cancelled', stop);
          call.on('close', stop);
        },
        // emit('error') makes grpc-js send the status; destroy() would drop it and leave the call hanging.
        (err: unknown) => call.emit('error', toServiceError(err, log, method)),
      );
    };
  }

  function countFailure(err: unknown): never {
    metrics.csrs.inc({ api: 'agent', result: resultLabel(err) });
    throw err;
  }

  return {
    AttestAgent: unary(log, 'AttestAgent', async (req) => {
      try {
        const credential =
          req.credential === 'join_token' ? { joinToken: req.join_token ?? '' } :
          req.credential === 'k8s_token' ? { k8sToken: req.k8s_token ?? '' } : undefined;
        if (!credential) throw invalidArgument('one of join_token or k8s_token is required');
        const identity = await attestation.attestAgentBootstrap(credential);
        const response = await issueAgentSvid(identity.spiffeId, req.csr, identity);
        log.info({ agentId: identity.spiffeId.toString(), attestor: identity.attestor }, 'node agent attested');
        return response;
      } catch (err) {
        return countFailure(err);
      }
    }),

    RenewAgent: unary(log, 'RenewAgent', async (req, call) => {
      try {
        const agent = await attestation.attestAgent(callerCredentials(call));
        return await issueAgentSvid(SpiffeId.parse(agent.spiffeId), req.csr, agent);
      } catch (err) {
        return countFailure(err);
      }
    }),

    MintWorkloadSVIDs: unary(log, 'MintWorkloadSVIDs', async (req, call) => {
      try {
        const agent = await attestation.attestAgent(callerCredentials(call));
        if (req.requests.length === 0) throw invalidArgument('requests is empty');
        if (req.requests.length > MAX_BATCH) throw invalidArgument(`at most ${MAX_BATCH} requests per call`);
        const svids: X509SVID[] = [];
        for (const [i, r] of req.requests.entries()) {
          const workload =
            r.workload === 'entry_id' ? { entryId: r.entry_id ?? '' } :
            r.workload === 'k8s_token' ? { k8sToken: r.k8s_token ?? '' } : undefined;
          if (!workload) throw invalidArgument(`requests[${i}]: one of entry_id or k8s_token is required`);
          const identity = await attestation.attestWorkloadForAgent(agent, workload);
          const svid = issuer.issue({
            csrPem: r.csr,
            spiffeId: identity.spiffeId,
            ttlSeconds: r.ttl_seconds || identity.ttlSeconds,
            dnsNames: identity.dnsNames,
          });
          metrics.csrs.inc({ api: 'agent', result: 'issued' });
          svids.push(svidMessage(svid));
        }
        return { svids };
      } catch (err) {
        return countFailure(err);
      }
    }),

    ListAgentEntries: unary(log, 'ListAgentEntries', async (_req, call) => {
      const agent = await attestation.attestAgent(callerCredentials(call));
      const entries = await store.listEntries({ parentId: agent.spiffeId });
      return {
        entries: entries.map((e) => ({
          id: e.id,
          spiffe_id: e.spiffeId,
          selectors: e.selectors,
          ttl_seconds: e.ttlSeconds,
          dns_names: e.dnsNames,
        })),
      };
    }),

    MintJWTSVID: unary(log, 'MintJWTSVID', async (req, call) => {
      try {
        const agent = await attestation.attestAgent(callerCredentials(call));
        const workload =
          req.workload === 'entry_id' ? { entryId: req.entry_id ?? '' } :
          req.workload === 'k8s_token' ? { k8sToken: req.k8s_token ?? '' } : undefined;
        if (!workload) throw invalidArgument('one of entry_id or k8s_token is required');
        const identity = await attestation.attestWorkloadForAgent(agent, workload);
        // The entry's TTL is for X509-SVIDs; JWT-SVIDs take the request's or the short JWT default.
        const svid = await deps.jwtIssuer.issue({ spiffeId: identity.spiffeId, audience: req.audience, ttlSeconds: req.ttl_seconds });
        metrics.jwtSvids.inc({ result: 'issued' });
        return { spiffe_id: svid.spiffeId, token: svid.token, expires_at: Math.floor(svid.expiresAt.getTime() / 1000) };
      } catch (err) {
        metrics.jwtSvids.inc({ result: resultLabel(err) });
        throw err;
      }
    }),

    ReportBundle: unary(log, 'ReportBundle', async (req, call) => {
      const agent = await attestation.attestAgent(callerCredentials(call));
      if (!Number.isSafeInteger(req.sequence) || req.sequence < 0) throw invalidArgument('sequence must be a bundle sequence number');
      // A sequence from before a server restart is not an error: the reopened stream's bundle is acknowledged next.
      if (!deps.acknowledgeBundle(agent.spiffeId, req.sequence)) {
        log.debug({ agentId: agent.spiffeId, sequence: req.sequence }, 'agent acknowledged a bundle this server did not publish');
      }
      return {};
    }),

    WatchBundle: watch('WatchBundle', 'bundle updates', () => deps.bundle(), deps.onBundleChange),
    WatchPolicies: watch('WatchPolicies', 'policy updates', deps.policies, deps.onPoliciesChange),
  };
}

function svidMessage(svid: IssuedX509Svid): X509SVID {
  return { spiffe_id: svid.spiffeId, cert_chain: svid.chainDer, expires_at: Math.floor(svid.notAfter.getTime() / 1000) };
}
