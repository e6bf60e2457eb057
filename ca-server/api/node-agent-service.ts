import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AuditLog } from '../../core/audit.js';
import { invalidArgument, MeshidError, permissionDenied } from '../../core/errors.js';
import { resultLabel, toServiceError } from '../../core/grpc-errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import type { NodeAgentServiceHandlers } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import type { PolicySet } from '../../protos/gen/meshid/v1/PolicySet.js';
import type { TrustBundle } from '../../protos/gen/meshid/v1/TrustBundle.js';
import type { X509SVID } from '../../protos/gen/meshid/v1/X509SVID.js';
import type { AttestedIdentity } from '../../plugins/api/attestor.js';
import type { AuthenticatedAgent, CallerAttestation } from '../attestation/caller.js';
import type { DataStore } from '../datastore/datastore.js';
import type { JwtSvidIssuer } from '../issuance/jwt-svid-issuer.js';
import type { IssuedX509Svid, X509SvidIssuer } from '../issuance/x509-svid-issuer.js';
import type { CallLimits } from '../limits/call-limits.js';
import type { CaMetrics } from '../metrics.js';
import type { AgentStreams } from './agent-streams.js';
import { callerCredentials } from './credentials.js';
import { auditRefusals, unary as unaryHandler } from './handler.js';

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
  /** Open agent streams, ended when their agent is evicted, banned or re-attested. */
  streams: AgentStreams;
  audit: AuditLog;
  /** Per-caller rate limits: attestation per source address, signing per agent. */
  limits: CallLimits;
  metrics: CaMetrics;
  log: Logger;
}

const SERVICE = 'meshid.v1.NodeAgentService';

const shuttingDown = (what: string) => new MeshidError('UNAVAILABLE', `the CA server is shutting down; reconnect to keep receiving ${what}`);

/** Upper bound on one MintWorkloadSVIDs batch: keeps a single call from monopolising the signer. */
const MAX_BATCH = 100;

/** meshid.v1.NodeAgentService: agent attestation and renewal, workload SVIDs on an agent's behalf, bundle stream. */
export function nodeAgentService(deps: NodeAgentServiceDeps): NodeAgentServiceHandlers {
  const { attestation, issuer, store, log, metrics } = deps;
  const refusals = auditRefusals(deps.audit, SERVICE);
  const unary: typeof unaryHandler = (l, method, handle) => unaryHandler(l, method, handle, refusals);

  /**
   * First contact (issuance -> storage): a new record replaces any earlier one, so SVIDs issued before no
   * longer authenticate and streams they opened end. In `tx`, the transaction a join token is consumed in.
   */
  async function admitAgent(identity: AttestedIdentity, csrPem: string, tx: DataStore) {
    const svid = await issuer.issue({ csrPem, spiffeId: identity.spiffeId, ttlSeconds: deps.agentSvidTtlSeconds });
    const now = new Date();
    await tx.upsertAgent({
      spiffeId: svid.spiffeId,
      attestationType: identity.attestor,
      serialNumber: svid.serialHex,
      expiresAt: svid.notAfter,
      attestedAt: now,
      lastSeenAt: now,
      selectors: identity.selectors,
    });
    return svid;
  }

  /** Renewal: the new SVID becomes the pending serial; the presented one keeps working until it is used. */
  async function renewAgent(agent: AuthenticatedAgent, csrPem: string) {
    const spiffeId = agent.record.spiffeId;
    const svid = await issuer.issue({ csrPem, spiffeId: SpiffeId.parse(spiffeId), ttlSeconds: deps.agentSvidTtlSeconds });
    if (!(await store.renewAgent(spiffeId, { newSerialNumber: svid.serialHex, expiresAt: svid.notAfter, lastSeenAt: new Date() }))) {
      throw permissionDenied(`${spiffeId} was evicted or banned while renewing; attest it again`, 'unknown_agent', spiffeId);
    }
    return svid;
  }

  /** Every agent-authenticated call: a call with a renewed SVID that took over ends the old SVID's streams. */
  async function authenticate(call: Parameters<typeof callerCredentials>[0]): Promise<AuthenticatedAgent> {
    const agent = await attestation.attestAgent(callerCredentials(call));
    if (agent.promoted) deps.streams.end(agent.record.spiffeId, superseded(), agent.serialHex);
    return agent;
  }

  /**
   * A server stream for an authenticated agent: the current message at once (once there is one), then one
   * per change. It never ends by itself: it is ended on shutdown, or the server waits out its grace period.
   */
  function watch<Message>(method: string, what: string, current: () => Message | undefined, onChange: (listener: () => void) => () => void) {
    return (call: ServerWritableStream<unknown, Message>) => {
      authenticate(call).then(
        (agent) => {
          if (call.cancelled) return;
          const send = () => {
            const message = current();
            if (message !== undefined) call.write(message);
          };
          const unsubscribe = onChange(send);
          send();
          const end = (err: MeshidError) => call.emit('error', toServiceError(err, log, method));
          const unwatchShutdown = deps.onShutdown(() => end(shuttingDown(what)));
          const unregister = deps.streams.add(agent.record.spiffeId, agent.serialHex, end);
          const stop = () => {
            unsubscribe();
            unwatchShutdown();
            unregister();
          };
          call.on('cancelled', stop);
          call.on('close', stop);
        },
        // emit('error') makes grpc-js send the status; destroy() would drop it and leave the call hanging.
        (err: unknown) => {
          refusals(method, undefined, err);
          call.emit('error', toServiceError(err, log, method));
        },
      );
    };
  }

  function countFailure(err: unknown): never {
    metrics.csrs.inc({ api: 'agent', result: resultLabel(err) });
    throw err;
  }

  return {
    AttestAgent: unary(log, 'AttestAgent', async (req, call) => {
      try {
        await deps.limits.attestingAgent(call.getPeer());
        const credential =
          req.credential === 'join_token' ? { joinToken: req.join_token ?? '' } :
          req.credential === 'k8s_token' ? { k8sToken: req.k8s_token ?? '' } : undefined;
        if (!credential) throw invalidArgument('one of join_token or k8s_token is required');
        const admit = async (tx: DataStore) => {
          const identity = await attestation.attestAgentBootstrap(credential, tx);
          return { identity, svid: await admitAgent(identity, req.csr, tx) };
        };
        // A join token is consumed in the same transaction as the agent is recorded: a bad CSR leaves it unused.
        const { identity, svid } = 'joinToken' in credential ? await store.transaction(admit) : await admit(store);
        deps.streams.end(svid.spiffeId, superseded(), svid.serialHex);
        metrics.csrs.inc({ api: 'agent', result: 'issued' });
        log.info({ agentId: svid.spiffeId, attestor: identity.attestor, serial: svid.serialHex }, 'node agent attested');
        return { svid: svidMessage(svid), bundle: deps.bundle() };
      } catch (err) {
        return countFailure(err);
      }
    }),

    RenewAgent: unary(log, 'RenewAgent', async (req, call) => {
      try {
        const agent = await authenticate(call);
        await deps.limits.signingForAgent(agent.record.spiffeId);
        const svid = await renewAgent(agent, req.csr);
        metrics.csrs.inc({ api: 'agent', result: 'issued' });
        return { svid: svidMessage(svid), bundle: deps.bundle() };
      } catch (err) {
        return countFailure(err);
      }
    }),

    MintWorkloadSVIDs: unary(log, 'MintWorkloadSVIDs', async (req, call) => {
      try {
        const agent = (await authenticate(call)).record;
        if (req.requests.length === 0) throw invalidArgument('requests is empty');
        if (req.requests.length > MAX_BATCH) throw invalidArgument(`at most ${MAX_BATCH} requests per call`);
        await deps.limits.signingForAgent(agent.spiffeId, req.requests.length);
        const svids: X509SVID[] = [];
        for (const [i, r] of req.requests.entries()) {
          const workload =
            r.workload === 'entry_id' ? { entryId: r.entry_id ?? '' } :
            r.workload === 'k8s_token' ? { k8sToken: r.k8s_token ?? '' } : undefined;
          if (!workload) throw invalidArgument(`requests[${i}]: one of entry_id or k8s_token is required`);
          const identity = await attestation.attestWorkloadForAgent(agent, workload);
          const svid = await issuer.issue({
            csrPem: r.csr,
            spiffeId: identity.spiffeId,
            // An entry's TTL is its identity's default and a cap the agent's request cannot raise.
            ttlSeconds: r.ttl_seconds || identity.ttlCapSeconds,
            ttlCapSeconds: identity.ttlCapSeconds,
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
      const agent = (await authenticate(call)).record;
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
        const agent = (await authenticate(call)).record;
        await deps.limits.signingForAgent(agent.spiffeId);
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
      const agent = (await authenticate(call)).record;
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

const superseded = () =>
  new MeshidError('PERMISSION_DENIED', 'a newer agent SVID replaced the one this stream was opened with; reopen it with the new SVID', 'superseded_agent_svid');

function svidMessage(svid: IssuedX509Svid): X509SVID {
  return { spiffe_id: svid.spiffeId, cert_chain: svid.chainDer, expires_at: Math.floor(svid.notAfter.getTime() / 1000) };
}
