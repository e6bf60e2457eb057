import { MeshidError, unauthenticated } from '../errors.js';

/**
 * Why a service-account token was refused. Each value is the stable `reason` label of the UNAUTHENTICATED
 * MeshidError (used as a metrics label), so renaming one is a breaking change.
 */
export type TokenRejectionReason =
  | 'token_missing'
  | 'token_malformed'
  | 'token_bad_signature'
  | 'token_unsupported_alg'
  | 'token_wrong_issuer'
  | 'token_wrong_audience'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_not_service_account'
  | 'token_invalidated'
  | 'token_rejected';

/** JWS algorithms Kubernetes can sign service-account tokens with; everything else (none, HS*) is refused. */
export const ACCEPTED_TOKEN_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512',
] as const;

/** Quotes a claim value for a message: JSON-escaped and cut short, so a hostile claim cannot flood logs. */
export function quoteClaim(value: unknown): string {
  // Lists read as ["a", "b"]; anything else as one quoted, escaped and length-capped string.
  if (Array.isArray(value)) return `[${value.slice(0, 8).map(quoteClaim).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return JSON.stringify(text.length > 128 ? `${text.slice(0, 128)}...` : text);
}

function reject(reason: TokenRejectionReason, message: string): MeshidError {
  return unauthenticated(message, reason);
}

/** Every error below names what is wrong and what to do; none ever includes the token text. */
export const tokenErrors = {
  missing: () =>
    reject('token_missing', 'no service-account token was presented; send the pod\'s projected token as the bearer token'),
  malformed: (detail: string) =>
    reject('token_malformed', `service-account token is malformed: ${detail}; send the token exactly as Kubernetes issued it`),
  badSignature: (detail: string) =>
    reject(
      'token_bad_signature',
      `service-account token signature is not valid: ${detail}; the token was not issued by the configured cluster, ` +
        'or meshid has stale keys for its issuer',
    ),
  unsupportedAlg: (alg: unknown) =>
    reject(
      'token_unsupported_alg',
      `service-account token uses signing algorithm ${quoteClaim(alg)}, which is not accepted ` +
        `(accepted: ${ACCEPTED_TOKEN_ALGORITHMS.join(', ')}); unsigned and shared-secret tokens are never valid`,
    ),
  wrongIssuer: (actual: unknown, expected: string) =>
    reject(
      'token_wrong_issuer',
      `service-account token was issued by ${quoteClaim(actual)} but meshid trusts ${quoteClaim(expected)}; ` +
        'check the cluster\'s --service-account-issuer against meshid\'s kubernetes.issuer',
    ),
  wrongAudience: (actual: unknown, accepted: readonly string[]) =>
    reject(
      'token_wrong_audience',
      `service-account token audience ${quoteClaim(actual)} includes none of the accepted audiences ` +
        `${quoteClaim(accepted)}; request the projected token with one of those audiences`,
    ),
  expired: (at?: Date) =>
    reject(
      'token_expired',
      `service-account token ${at ? `expired at ${at.toISOString()}` : 'has expired'}; ` +
        're-read the projected token file (the kubelet refreshes it) and retry',
    ),
  notYetValid: (from: Date) =>
    reject(
      'token_not_yet_valid',
      `service-account token is not valid before ${from.toISOString()}; check the clocks of meshid and the cluster`,
    ),
  notServiceAccount: (subject: unknown) =>
    reject(
      'token_not_service_account',
      `token subject ${quoteClaim(subject)} is not a Kubernetes service account ` +
        '(expected system:serviceaccount:<namespace>:<name>); present a pod\'s service-account token',
    ),
  /** TokenReview answered authenticated=false: `detail` is the API server's (sanitized) error. */
  rejected: (reason: TokenRejectionReason, detail: string, hint: string) =>
    reject(reason, `the Kubernetes API server rejected the service-account token (${detail}); ${hint}`),
};
