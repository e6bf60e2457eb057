import { SpiffeId, type TrustDomain } from '../../core/spiffeid.js';
import type { AttestedIdentity, ServiceAccountIdentity } from '../../plugins/api/attestor.js';

/**
 * A verified service account as a workload identity: Istio's spiffe://<td>/ns/<namespace>/sa/<name>, with the
 * namespace, account, pod and node as selectors.
 */
export function serviceAccountIdentity(sa: ServiceAccountIdentity, trustDomain: TrustDomain): AttestedIdentity {
  const selectors = [`k8s:ns:${sa.namespace}`, `k8s:sa:${sa.serviceAccount}`];
  if (sa.podName) selectors.push(`k8s:pod-name:${sa.podName}`);
  if (sa.podUid) selectors.push(`k8s:pod-uid:${sa.podUid}`);
  if (sa.nodeName) selectors.push(`k8s:node-name:${sa.nodeName}`);
  if (sa.nodeUid) selectors.push(`k8s:node-uid:${sa.nodeUid}`);
  return {
    spiffeId: SpiffeId.forServiceAccount(trustDomain, sa.namespace, sa.serviceAccount),
    kind: 'workload',
    attestor: 'k8s_token',
    selectors,
    credentialExpiresAt: sa.expiresAt,
  };
}
