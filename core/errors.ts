/**
 * One error type for every layer. `code` names the gRPC status the API layer answers with;
 * `reason` is a short, stable label for metrics (never contains secrets); `subject` names the authenticated
 * caller a refusal is about, for the audit log.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export class MeshidError extends Error {
  override readonly name = 'MeshidError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly reason: string = code.toLowerCase(),
    readonly subject?: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string, reason = 'invalid_argument') =>
  new MeshidError('INVALID_ARGUMENT', message, reason);
export const unauthenticated = (message: string, reason = 'unauthenticated') =>
  new MeshidError('UNAUTHENTICATED', message, reason);
export const permissionDenied = (message: string, reason = 'permission_denied', subject?: string) =>
  new MeshidError('PERMISSION_DENIED', message, reason, subject);
