import { tokenErrors } from './token-errors.js';

const PREFIX = 'system:serviceaccount:';
/** Namespace names are DNS-1123 labels. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Service-account names are DNS-1123 subdomains. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_SUBDOMAIN_LENGTH = 253;

export interface ServiceAccountName {
  namespace: string;
  serviceAccount: string;
}

/**
 * Parses `system:serviceaccount:<namespace>:<name>` (a token's sub, or a TokenReview username). Anything
 * else, including names Kubernetes itself could not have created, is refused as not a service account.
 */
export function parseServiceAccountUsername(username: unknown): ServiceAccountName {
  if (typeof username !== 'string' || !username.startsWith(PREFIX)) throw tokenErrors.notServiceAccount(username);
  const parts = username.slice(PREFIX.length).split(':');
  if (parts.length !== 2) throw tokenErrors.notServiceAccount(username);
  const [namespace, serviceAccount] = parts as [string, string];
  if (!NAMESPACE.test(namespace)) throw tokenErrors.notServiceAccount(username);
  if (serviceAccount.length > MAX_SUBDOMAIN_LENGTH || !SUBDOMAIN.test(serviceAccount)) {
    throw tokenErrors.notServiceAccount(username);
  }
  return { namespace, serviceAccount };
}
