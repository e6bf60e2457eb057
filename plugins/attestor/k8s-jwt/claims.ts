import type { JWTPayload } from 'jose';
import type { ServiceAccountIdentity } from '../../api/attestor.js';
import { parseServiceAccountUsername } from '../../../core/kubernetes/service-account-name.js';
import { quoteClaim, tokenErrors } from '../../../core/kubernetes/token-errors.js';

interface ObjectRef {
  name?: unknown;
  uid?: unknown;
}

interface KubernetesClaims {
  namespace?: unknown;
  serviceaccount?: ObjectRef;
  pod?: ObjectRef;
  node?: ObjectRef;
}

/**
 * The service account of a verified projected token: sub names it, and the `kubernetes.io` claim (when
 * present) must agree with sub and adds the bound pod and node.
 */
export function identityFromClaims(payload: JWTPayload): ServiceAccountIdentity {
  const { namespace, serviceAccount } = parseServiceAccountUsername(payload.sub);
  const identity: ServiceAccountIdentity = {
    namespace,
    serviceAccount,
    expiresAt: payload.exp !== undefined ? new Date(payload.exp * 1000) : undefined,
  };
  const raw = payload['kubernetes.io'];
  if (raw === undefined) return identity;
  if (raw === null || typeof raw !== 'object') throw tokenErrors.malformed('its kubernetes.io claim is not an object');
  const k8s = raw as KubernetesClaims;
  if (k8s.namespace !== namespace) throw disagrees('kubernetes.io.namespace', k8s.namespace);
  if (k8s.serviceaccount?.name !== serviceAccount) throw disagrees('kubernetes.io.serviceaccount.name', k8s.serviceaccount?.name);
  const pod = objectRef('pod', k8s.pod);
  const node = objectRef('node', k8s.node);
  return { ...identity, podName: pod?.name, podUid: pod?.uid, nodeName: node?.name, nodeUid: node?.uid };
}

function objectRef(kind: string, ref: ObjectRef | undefined): { name: string; uid: string } | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref?.name !== 'string' || typeof ref.uid !== 'string' || ref.name === '' || ref.uid === '') {
    throw tokenErrors.malformed(`its kubernetes.io.${kind} claim needs a non-empty name and uid`);
  }
  return { name: ref.name, uid: ref.uid };
}

function disagrees(claim: string, value: unknown) {
  return tokenErrors.malformed(`its ${claim} claim ${quoteClaim(value)} disagrees with its subject`);
}
