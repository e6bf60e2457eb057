import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from '../../core/grpc-errors.js';

/** Adapts an async handler to grpc-js's callback style; errors become gRPC statuses via toServiceError. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    handle(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err, log, method)),
    );
  };
}
