import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import type { ServiceAccountIdentity } from '../../api/attestor.js';
import { parseServiceAccountUsername } from '../../../core/kubernetes/service-account-name.js';
import { quoteClaim, tokenErrors, type TokenRejectionReason } from '../../../core/kubernetes/token-errors.js';

const EXTRA = 'authentication.kubernetes.io/';
const MAX_DETAIL = 200;

/**
 * Turns a TokenReview status into the service account it vouches for, or the error to answer with.
 * `token` is only used to scrub it from the API server's error text.
 */
export function identityFromReview(
  status: V1TokenReviewStatus,
  sentAudiences: readonly string[],
  token: string,
): Omit<ServiceAccountIdentity, 'expiresAt'> {
  if (!status.authenticated) throw classifyRejection(sanitize(status.error, token), sentAudiences);
  // An API server that ignored spec.audiences must not make a token for another audience acceptable.
  if (sentAudiences.length > 0 && !status.audiences?.some((a) => sentAudiences.includes(a))) {
    throw tokenErrors.wrongAudience(status.audiences ?? [], sentAudiences);
  }
  const { namespace, serviceAccount } = parseServiceAccountUsername(status.user?.username);
  const extra = status.user?.extra ?? {};
  const first = (key: string) => extra[EXTRA + key]?.[0] || undefined;
  return {
    namespace,
    serviceAccount,
    podName: first('pod-name'),
    podUid: first('pod-uid'),
    nodeName: first('node-name'),
    nodeUid: first('node-uid'),
  };
}

function classifyRejection(detail: string, sentAudiences: readonly string[]) {
  const rules: Array<[RegExp, TokenRejectionReason, string]> = [
    [/expired/i, 'token_expired', 're-read the projected token file (the kubelet refreshes it) and retry'],
    [/audience/i, 'token_wrong_audience', `request the projected token with audience ${quoteClaim(sentAudiences)}`],
    [
      // Recreated under the same name: "pod UID (…) does not match service account pod ref claim (…)".
      /invalidated|not found|deleted|does not match/i,
      'token_invalidated',
      'its pod or service account was deleted or recreated; use the token of a running pod',
    ],
  ];
  const [, reason, hint] = rules.find(([pattern]) => pattern.test(detail)) ?? [
    undefined,
    'token_rejected',
    'check that the token was issued by this cluster and sent unaltered',
  ];
  return tokenErrors.rejected(reason, detail, hint);
}

/** The API server's error, with the token (should it ever be echoed) removed and the length bounded. */
function sanitize(error: string | undefined, token: string): string {
  const text = (error ?? '').split(token).join('[token]').replace(/\s+/g, ' ').trim();
  if (text === '') return 'no reason given';
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}...` : text;
}
