import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { resultLabel, toServiceError } from '../../core/grpc-errors.js';
import { SpiffeId } from '../../core/spiffeid.js';
import type { SpiffeWorkloadAPIHandlers } from '../../protos/gen/SpiffeWorkloadAPI.js';
import type { ProtoGrpcType } from '../../protos/gen/workload.js';
import { loadProto } from '../../protos/load.js';
import type { IdentitySource, TrustBundleMaterial, WorkloadCaller } from '../identity-source.js';
import { CallerSvids } from '../sockets/caller-svids.js';
import { watchTokenDeadline } from '../sockets/token-deadline.js';
import { describeCaller, type CallerResolver } from '../sockets/caller.js';
import { validateJwtSvid } from './jwt-validation.js';
import { jwtBundlesResponse, x509BundlesResponse, x509SvidResponse } from './messages.js';
import type { WorkloadApiMetrics } from './metrics.js';
import { toStruct } from './struct.js';

/** Metadata every Workload API call must carry (SPIFFE Workload Endpoint spec), against SSRF-style proxying. */
export const SECURITY_HEADER = 'workload.spiffe.io';

export function workloadApiServiceDefinition(): grpc.ServiceDefinition {
  return loadProto<ProtoGrpcType>('spiffe/workload.proto').SpiffeWorkloadAPI.service;
}

export interface WorkloadApiServiceOptions {
  source: IdentitySource;
  callerOf: CallerResolver;
  log: Logger;
  metrics: WorkloadApiMetrics;
  /** Kubernetes mode: streams end at this fraction of the caller's token lifetime (watchTokenDeadline). */
  tokenStreamFraction: number;
}

/** What a server stream sends: the full state, re-rendered after every change. */
interface StreamState<T> {
  render(): Promise<T>;
  close(): void;
}

/**
 * SpiffeWorkloadAPI. Order of checks on every call: the security header (else INVALID_ARGUMENT), the caller's
 * identity (else PERMISSION_DENIED), then the agent's state (UNAVAILABLE while it has nothing to serve).
 * Streams send their first message at once and the complete state again on every rotation or bundle change.
 */
export function workloadApiService({ source, callerOf, log, metrics, tokenStreamFraction }: WorkloadApiServiceOptions): SpiffeWorkloadAPIHandlers {
  const admit = (metadata: grpc.Metadata): WorkloadCaller => {
    const values = metadata.get(SECURITY_HEADER);
    if (values.length !== 1 || values[0] !== 'true') {
      throw invalidArgument(`security header missing from request: every Workload API call must carry metadata "${SECURITY_HEADER}: true"`, 'missing_security_header');
    }
    return callerOf(metadata);
  };
  const refused = (rpc: string, err: unknown) => {
    metrics.calls.inc({ rpc, result: resultLabel(err) });
    return toServiceError(err, log, rpc);
  };
  /** Bundles are only for callers entitled to at least one identity (as SPIRE does). */
  const requireIdentity = async (caller: WorkloadCaller) => {
    await source.x509Svids(caller);
  };

  /** A stream of bundles only: the caller's entitlement is checked once, then every bundle change is sent. */
  function bundleStream<Res>(render: (bundles: ReadonlyMap<string, TrustBundleMaterial>) => Res) {
    return (caller: WorkloadCaller, changed: () => void): StreamState<Res> => {
      let admitted: Promise<void> | undefined;
      const unwatch = source.watchBundles(changed);
      return {
        render: async () => {
          await (admitted ??= requireIdentity(caller));
          return render(source.bundles());
        },
        close: unwatch,
      };
    };
  }

  function unary<Req, Res>(rpc: string, handle: (request: Req, caller: WorkloadCaller) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => handle(call.request, admit(call.metadata)))
        .then(
          (response) => {
            metrics.calls.inc({ rpc, result: 'ok' });
            callback(null, response);
          },
          (err: unknown) => callback(refused(rpc, err)),
        );
    };
  }

  function stream<Req, Res>(
    rpc: string,
    open: (caller: WorkloadCaller, changed: () => void) => StreamState<Res>,
  ): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      let caller: WorkloadCaller;
      try {
        caller = admit(call.metadata);
      } catch (err) {
        call.emit('error', refused(rpc, err));
        return;
      }
      const streamLog = log.child({ rpc, ...describeCaller(caller) });
      let dirty = true;
      let pumping = false;
      let finished = false;
      let sent = 0;
      const state = open(caller, () => {
        dirty = true;
        void pump();
      });
      metrics.streams.inc({ rpc });
      const stopDeadline = watchTokenDeadline(caller, tokenStreamFraction, streamLog, (err) => fail(err));
      const finish = () => {
        if (finished) return;
        finished = true;
        state.close();
        stopDeadline();
        metrics.streams.dec({ rpc });
      };
      const fail = (err: unknown) => {
        finish();
        call.emit('error', refused(rpc, err));
      };

      // One render at a time, always of the latest state; a slow reader gets the newest state once it drains.
      const pump = async () => {
        if (pumping) return;
        pumping = true;
        try {
          while (dirty && !finished) {
            dirty = false;
            let message: Res;
            try {
              message = await state.render();
            } catch (err) {
              if (sent > 0 && isTransient(err)) {
                streamLog.warn({ err }, 'cannot refresh the Workload API stream; the client keeps its current state');
                continue;
              }
              fail(err);
              return;
            }
            if (finished) return;
            if (sent === 0) metrics.calls.inc({ rpc, result: 'ok' });
            else metrics.pushes.inc({ rpc });
            sent++;
            if (!call.write(message)) await Promise.race([once(call, 'drain'), once(call, 'close')]);
          }
        } finally {
          pumping = false;
        }
      };

      call.on('cancelled', finish);
      call.on('close', finish);
      void pump();
    };
  }

  return {
    FetchX509SVID: stream('FetchX509SVID', (caller, changed) => {
      const svids = new CallerSvids(source, caller, changed);
      const unwatch = source.watchBundles(changed);
      return {
        render: async () => x509SvidResponse(await svids.get(), source.bundles(), source.ownBundle()),
        close: () => {
          svids.close();
          unwatch();
        },
      };
    }),

    FetchX509Bundles: stream('FetchX509Bundles', bundleStream(x509BundlesResponse)),
    FetchJWTBundles: stream('FetchJWTBundles', bundleStream(jwtBundlesResponse)),

    FetchJWTSVID: unary('FetchJWTSVID', async (request, caller) => {
      if (request.audience.length === 0 || request.audience.some((a) => a.trim() === '')) {
        throw invalidArgument('audience is required: name at least one (non-empty) audience the JWT-SVID is for', 'bad_audience');
      }
      const spiffeId = request.spiffe_id === '' ? undefined : SpiffeId.parse(request.spiffe_id).toString();
      const svids = await source.jwtSvids(caller, request.audience, spiffeId);
      return { svids: svids.map((svid) => ({ spiffe_id: svid.spiffeId, svid: svid.token })) };
    }),

    ValidateJWTSVID: unary('ValidateJWTSVID', async (request, caller) => {
      if (request.audience === '') throw invalidArgument('audience is required', 'bad_audience');
      if (request.svid === '') throw invalidArgument('svid is required: pass the JWT-SVID to validate', 'bad_jwt_svid');
      await requireIdentity(caller);
      const validated = await validateJwtSvid(request.svid, request.audience, source.bundles());
      return { spiffe_id: validated.spiffeId, claims: toStruct(validated.claims) };
    }),
  };
}

/** The agent cannot refresh right now (CA unreachable) or hit a bug: not the caller's fault, keep its stream. */
function isTransient(err: unknown): boolean {
  return !(err instanceof MeshidError) || err.code === 'UNAVAILABLE' || err.code === 'INTERNAL';
}
