import type { Metadata } from '@grpc/grpc-js';
import { parseBearer } from '../../core/bearer.js';
import { permissionDenied } from '../../core/errors.js';
import type { WorkloadCaller } from '../identity-source.js';

/** Who is calling, worked out from a call's metadata; throws a MeshidError when it cannot be. */
export type CallerResolver = (metadata: Metadata) => WorkloadCaller;

/** Header Istio's per-node agent design used: Envoy's file-based call credentials send the token file's bytes. */
export const ISTIO_TOKEN_HEADER = 'istio_sds_credentials_header-bin';

/** VM mode: every call on a socket is the socket's selectors; the caller cannot add or change any. */
export function socketCaller(selectors: readonly string[]): CallerResolver {
  const caller: WorkloadCaller = { kind: 'unix', selectors: [...selectors] };
  return () => caller;
}

/**
 * Kubernetes mode: the pod's service-account token, from `istio_sds_credentials_header-bin` (raw token bytes)
 * or `authorization: Bearer <token>`. Whether it is valid, and whether the pod runs on this node, is for the
 * CA to decide; here only its presence is checked.
 */
export const tokenCaller: CallerResolver = (metadata) => {
  const token = istioToken(metadata) ?? bearerToken(metadata);
  if (!token) {
    throw permissionDenied(
      'no workload identity on this call: in Kubernetes mode send the pod\'s service-account token as ' +
        `"authorization: Bearer <token>" or in the "${ISTIO_TOKEN_HEADER}" header`,
      'no_caller_token',
    );
  }
  return { kind: 'k8s-token', token };
};

function istioToken(metadata: Metadata): string | undefined {
  const [value] = metadata.get(ISTIO_TOKEN_HEADER);
  const token = (Buffer.isBuffer(value) ? value.toString('utf8') : value)?.trim();
  return token || undefined;
}

function bearerToken(metadata: Metadata): string | undefined {
  const [value] = metadata.get('authorization');
  if (typeof value !== 'string') return undefined;
  const token = parseBearer(value);
  if (token === undefined) {
    throw permissionDenied('the "authorization" header must be "Bearer <service-account token>"', 'bad_caller_token');
  }
  return token;
}

/** A log-safe description of a caller: selectors, never a token. */
export function describeCaller(caller: WorkloadCaller): Record<string, unknown> {
  return caller.kind === 'unix' ? { caller: 'unix', selectors: caller.selectors } : { caller: 'k8s-token' };
}
