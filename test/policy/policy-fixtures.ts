// Builders for policy tests: a validated policy from a spec, and one request with every attribute set.
import type { AuthorizationPolicy, RequestAttributes } from '../../core/policy/model.js';
import { parsePolicy } from '../../core/policy/validate.js';

export function policy(spec: Record<string, unknown>, metadata: { name?: string; namespace?: string } = {}): AuthorizationPolicy {
  return parsePolicy({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: metadata.name ?? 'p', namespace: metadata.namespace ?? 'prod' },
    spec,
  });
}

export const PEER = 'spiffe://td.example/ns/frontend/sa/web';
export const CLAIMS = {
  iss: 'https://issuer.example',
  sub: 'alice',
  aud: ['api', 'web'],
  azp: 'client-1',
  groups: ['dev', 'admins'],
  org: { team: 'core' },
};

/** An mTLS request from PEER with every optional attribute available. */
export function request(overrides: Partial<RequestAttributes> = {}): RequestAttributes {
  return {
    principal: PEER,
    sourceIp: '10.1.2.3',
    destinationIp: '10.0.0.9',
    destinationPort: 8080,
    method: 'GET',
    path: '/api/items?limit=5',
    host: 'shop.example.com',
    headers: { 'x-team': 'blue', ':authority': 'shop.example.com' },
    jwtClaims: CLAIMS,
    ...overrides,
  };
}
