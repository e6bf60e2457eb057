/**
 * envoy.service.auth.v3.Authorization/Check on a Unix socket: the node agent's policy enforcement point.
 * Every CheckRequest gets an answer (the RPC itself never fails, so Envoy's status_on_error is only for a
 * dead agent): allow -> OK; deny or malformed request -> PERMISSION_DENIED with a 403 and a reason header.
 * Envoy side: an ext_authz HTTP filter with transport_api_version V3 and grpc_service.envoy_grpc pointing
 * at a cluster whose endpoint is `pipe: { path: <socketPath> }` (HTTP/2); see check-request.ts for how it
 * names the protected workload.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { createUnaryGrpcServer } from '../../core/http2/grpc-unary-server.js';
import type { Decision } from '../../core/policy/model.js';
import type { PolicyStore } from '../../core/policy/store.js';
import { loadProto } from '../../protos/load.js';
import type { ProtoGrpcType } from '../../protos/gen/external_auth.js';
import type { CheckRequest__Output } from '../../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../../protos/gen/envoy/service/auth/v3/CheckResponse.js';
import { readCheckRequest, type CheckInput, type CheckInputOptions } from './check-request.js';
import { allowResponse, denyResponse } from './check-response.js';
import { AuthzMetrics } from './metrics.js';

export interface ExtAuthzServerOptions extends CheckInputOptions {
  socketPath: string;
  store: PolicyStore;
  log: Logger;
  /** Registry for the authz metrics (e.g. the agent's); default a private one. */
  registry?: Registry;
  /** Socket file mode. Default 0600; use 0660 when Envoy runs as another user in the agent's group. */
  socketMode?: number;
}

export interface ExtAuthzServer {
  readonly socketPath: string;
  readonly metrics: AuthzMetrics;
  close(): Promise<void>;
}

/** Decides one CheckRequest: the response, plus what was decided (null when the request was malformed). */
export function decideCheck(
  request: CheckRequest__Output,
  options: CheckInputOptions & { store: PolicyStore },
): { response: CheckResponse; input: CheckInput | null; decision: Decision | null; error: MeshidError | null } {
  let input: CheckInput;
  let decision: Decision;
  try {
    input = readCheckRequest(request, options);
    decision = options.store.evaluate(input.workload, input.attributes);
  } catch (err) {
    if (!(err instanceof MeshidError)) throw err;
    return { response: denyResponse(`denied: ${err.message}`), input: null, decision: null, error: err };
  }
  return { response: decision.allowed ? allowResponse() : denyResponse(decision.reason), input, decision, error: null };
}

export async function startExtAuthzServer(options: ExtAuthzServerOptions): Promise<ExtAuthzServer> {
  const { socketPath, log } = options;
  const metrics = new AuthzMetrics(options.registry);
  const check = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto').envoy.service.auth.v3.Authorization.service.Check;

  const answer = (request: CheckRequest__Output): CheckResponse => {
    const started = process.hrtime.bigint();
    let result: ReturnType<typeof decideCheck>;
    try {
      result = decideCheck(request, options);
    } catch (err) {
      // A bug, not a verdict: log it and still answer with a denial rather than an RPC error.
      log.error({ err }, 'ext_authz check failed unexpectedly; denying');
      return denyResponse('denied: internal error in the authorization service');
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const { input, decision, error } = result;
    if (decision && input) {
      metrics.record(decision, seconds);
      logDecision(log, input, decision);
    } else {
      metrics.recordMalformed(seconds);
      log.warn({ reason: error?.message }, 'ext_authz request malformed; denied');
    }
    return result.response;
  };
  // The lean unary transport (core/http2): grpc-js costs too much per call for the p99 target.
  const grpc = createUnaryGrpcServer({
    log,
    // Each Envoy opens one connection per worker thread: 1,024 is e.g. 110 pods × 8 workers with room to spare.
    maxConnections: 1024,
    handlers: new Map([
      [
        check.path,
        (call) => {
          let request: CheckRequest__Output;
          try {
            request = check.requestDeserialize(call.message);
          } catch (err) {
            metrics.recordMalformed(0);
            throw invalidArgument(`CheckRequest is not a valid protobuf message: ${(err as Error).message}`);
          }
          return check.responseSerialize(answer(request));
        },
      ],
    ]),
  });
  const server = net.createServer((socket) => grpc.accept(socket));

  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on unix:${socketPath}: ${err.message}`)));
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, options.socketMode ?? 0o600);
  log.info({ socketPath }, 'ext_authz server listening');

  return {
    socketPath,
    metrics,
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await grpc.close();
      await stopped;
      await rm(socketPath, { force: true });
    },
  };
}

/** Decision records: who called what, and which policy decided. AUDIT matches are always recorded. */
function logDecision(log: Logger, input: CheckInput, decision: Decision): void {
  if (decision.allowed && decision.audit.length === 0 && !log.isLevelEnabled('debug')) return;
  const { attributes: a, workload } = input;
  const record = {
    source: a.principal ?? 'plaintext',
    sourceIp: a.sourceIp,
    workload: workload.spiffeId ?? `${workload.namespace ?? ''}/${Object.entries(workload.labels).map(([k, v]) => `${k}=${v}`).join(',')}`,
    method: a.method,
    path: a.path.replace(/[?#].*$/, ''), // a query may carry credentials
    host: a.host,
    allowed: decision.allowed,
    policy: decision.policy,
    rule: decision.ruleIndex,
    reason: decision.reason,
  };
  for (const match of decision.audit) log.info({ ...record, audit: match }, 'authorization audit');
  if (!decision.allowed) log.info(record, 'request denied');
  else log.debug(record, 'request allowed');
}
