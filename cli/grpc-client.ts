import * as grpc from '@grpc/grpc-js';

type UnaryMethod<Req, Res> = (request: Req, callback: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

/** Promise wrapper for one generated unary client method. */
export function call<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** A gRPC error as one line for the terminal: the status name and the server's message. */
export function describeGrpcError(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && 'details' in err) {
    const e = err as grpc.ServiceError;
    return `${grpc.status[e.code] ?? e.code}: ${e.details}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Whether `err` is a gRPC error with this status code. */
export function isGrpcStatus(err: unknown, code: grpc.status): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && 'details' in err && err.code === code;
}
