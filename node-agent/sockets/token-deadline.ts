import type { Logger } from 'pino';
import { decodeUnverifiedJwt } from '../../core/kubernetes/unverified-jwt.js';
import { MeshidError } from '../../core/errors.js';
import type { WorkloadCaller } from '../identity-source.js';
import { timer } from '../timing.js';

/** A token whose reconnect point has passed is still ended this long before exp, once. */
const LAST_CALL_MS = 15_000;

/**
 * Kubernetes mode: a stream's SVIDs are renewed with the pod token the stream was opened with, so the stream
 * must end before that token expires. It ends at `fraction` of the token's lifetime (after the kubelet
 * has refreshed the projected token file, at 80% by default), and the caller reconnects with the new token
 * (Envoy's file-based call credentials re-read the file per stream). Returns a function cancelling it.
 * Tokens without iat/exp, and callers without a token, have no deadline.
 */
export function watchTokenDeadline(
  caller: WorkloadCaller,
  fraction: number,
  log: Logger,
  onDue: (err: MeshidError) => void,
): () => void {
  if (caller.kind !== 'k8s-token') return () => {};
  let iat: unknown, exp: unknown;
  try {
    ({ iat, exp } = decodeUnverifiedJwt(caller.token).payload);
  } catch {
    return () => {}; // not a JWT: the CA refuses it with the precise reason
  }
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= iat) return () => {};
  const now = Date.now();
  let dueMs = (iat + fraction * (exp - iat)) * 1000;
  if (dueMs <= now) dueMs = exp * 1000 - LAST_CALL_MS;
  if (dueMs <= now) return () => {};
  const expiresAt = new Date(exp * 1000).toISOString();
  const t = timer(dueMs - now, () => {
    log.info({ tokenExpiresAt: expiresAt }, 'ending the stream before its service-account token expires; the caller reconnects with the refreshed token');
    onDue(
      new MeshidError(
        'UNAVAILABLE',
        `this stream's service-account token expires at ${expiresAt}: reconnect with the refreshed projected token`,
        'token_expiring',
      ),
    );
  });
  return () => clearTimeout(t);
}
