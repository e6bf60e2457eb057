import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshidError } from './errors.js';

const CODES: Record<MeshidError['code'], status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

/**
 * Turns anything a handler threw into a gRPC error. MeshidErrors keep their code and message (they are
 * written for the caller and hold no secrets); anything else is a bug: logged in full, answered as INTERNAL
 * without details.
 */
export function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  if (err instanceof MeshidError) {
    return { code: CODES[err.code], details: err.message, metadata: new Metadata() };
  }
  log.error({ err, method }, 'unexpected error in handler');
  return { code: status.INTERNAL, details: `internal error in ${method}; see the server log`, metadata: new Metadata() };
}

/** The gRPC status name for a MeshidError or any other error, as used in metrics labels. */
export function resultLabel(err: unknown): string {
  return err instanceof MeshidError ? err.code.toLowerCase() : 'internal';
}
