import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshidError } from '../../core/errors.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { serviceAccountIdentity } from './service-account.js';
import { parseServiceAccountUsername } from '../../core/kubernetes/service-account-name.js';

const TD = TrustDomain.parse('cluster.local');

describe('serviceAccountIdentity', () => {
  it('maps a bound pod token to spiffe://TD/ns/NS/sa/SA with k8s selectors', () => {
    const expiresAt = new Date('2030-01-01T00:00:00Z');
    const identity = serviceAccountIdentity(
      { namespace: 'shop', serviceAccount: 'web', podName: 'web-1', podUid: 'p-uid', nodeName: 'worker-1', nodeUid: 'n-uid', expiresAt },
      TD,
    );
    expect(identity.spiffeId.toString()).toBe('spiffe://cluster.local/ns/shop/sa/web');
    expect(identity).toMatchObject({ kind: 'workload', attestor: 'k8s_token', credentialExpiresAt: expiresAt });
    expect(identity.selectors).toEqual([
      'k8s:ns:shop',
      'k8s:sa:web',
      'k8s:pod-name:web-1',
      'k8s:pod-uid:p-uid',
      'k8s:node-name:worker-1',
      'k8s:node-uid:n-uid',
    ]);
  });

  it('omits pod and node selectors for an unbound token', () => {
    const identity = serviceAccountIdentity({ namespace: 'default', serviceAccount: 'default' }, TD);
    expect(identity.selectors).toEqual(['k8s:ns:default', 'k8s:sa:default']);
    expect(identity.credentialExpiresAt).toBeUndefined();
  });
});

describe('parseServiceAccountUsername', () => {
  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);

  it('round-trips every valid namespace and name, and the result always makes a valid SPIFFE ID', () => {
    fc.assert(
      fc.property(label, fc.array(label, { minLength: 1, maxLength: 3 }), (ns, nameParts) => {
        const name = nameParts.join('.');
        expect(parseServiceAccountUsername(`system:serviceaccount:${ns}:${name}`)).toEqual({ namespace: ns, serviceAccount: name });
        expect(serviceAccountIdentity({ namespace: ns, serviceAccount: name }, TD).spiffeId.path).toBe(`/ns/${ns}/sa/${name}`);
      }),
    );
  });

  it('refuses anything else as UNAUTHENTICATED not-a-service-account, never throwing another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `system:serviceaccount:${s}`)), (input) => {
        let outcome: unknown;
        try {
          const parsed = parseServiceAccountUsername(input);
          outcome = `system:serviceaccount:${parsed.namespace}:${parsed.serviceAccount}` === input;
        } catch (err) {
          outcome = err instanceof MeshidError && err.reason === 'token_not_service_account';
        }
        expect(outcome).toBe(true);
      }),
    );
  });

  it.each([
    'system:serviceaccount:',
    'system:serviceaccount:ns',
    'system:serviceaccount:ns:',
    'system:serviceaccount::sa',
    'system:serviceaccount:ns:sa:x',
    'system:serviceaccount:NS:sa',
    'system:serviceaccount:ns:Sa',
    'system:serviceaccount:-ns:sa',
    `system:serviceaccount:${'n'.repeat(64)}:sa`,
    `system:serviceaccount:ns:${'s'.repeat(254)}`,
    'system:serviceaccount:ns:../etc',
    'system:node:worker-1',
    undefined,
    42,
  ])('refuses %s', (input) => {
    expect(() => parseServiceAccountUsername(input)).toThrow(expect.objectContaining({ reason: 'token_not_service_account' }));
  });
});
