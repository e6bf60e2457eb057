import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AuditLog } from '../../core/audit.js';
import { MeshidError } from '../../core/errors.js';
import { toServiceError } from '../../core/grpc-errors.js';

/** Called once per finished call with its error (undefined when it succeeded); see the audit helpers below. */
export type CallOutcome = (method: string, request: unknown, error: unknown) => void;

/** Adapts an async handler to grpc-js's callback style; errors become gRPC statuses via toServiceError. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  onOutcome?: CallOutcome,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    handle(call.request, call).then(
      (response) => {
        onOutcome?.(method, call.request, undefined);
        callback(null, response);
      },
      (err: unknown) => {
        onOutcome?.(method, call.request, err);
        callback(toServiceError(err, log, method));
      },
    );
  };
}

/** Public APIs: every refusal of an authenticated caller (PERMISSION_DENIED names its subject) is audited. */
export function auditRefusals(audit: AuditLog, service: string): CallOutcome {
  return (method, _request, err) => {
    if (err instanceof MeshidError && err.subject !== undefined) {
      audit.record({ actor: err.subject, action: `${service}/${method}`, decision: 'denied', reason: err.reason, message: err.message });
    }
  };
}

/** The admin API: every operation, allowed or not, with its request. */
export function auditEveryCall(audit: AuditLog, service: string): CallOutcome {
  return (method, request, err) =>
    audit.record({
      actor: 'admin',
      action: `${service}/${method}`,
      decision: err === undefined ? 'allowed' : 'denied',
      ...(err instanceof MeshidError ? { reason: err.reason, message: err.message } : err !== undefined ? { reason: 'internal' } : {}),
      request,
    });
}
