import { invalidArgument } from '../../../core/errors.js';
import type { TrustDomain } from '../../../core/spiffeid.js';
import type { MintX509CaRequest } from '../../api/upstream-authority.js';

/** Refuses a mint request for another trust domain or with a TTL that is not a positive whole number of seconds. */
export function checkMintRequest(upstream: string, trustDomain: TrustDomain, request: MintX509CaRequest): void {
  if (!request.trustDomain.equals(trustDomain)) {
    throw invalidArgument(`${upstream} upstream authority serves ${trustDomain.id}, not ${request.trustDomain.id}`, 'bad_trust_domain');
  }
  if (!Number.isInteger(request.preferredTtlSeconds) || request.preferredTtlSeconds <= 0) {
    throw invalidArgument(`preferred TTL must be a positive whole number of seconds, got ${request.preferredTtlSeconds}`);
  }
}
