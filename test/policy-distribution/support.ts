// Shared pieces of the policy distribution tests: policy files in the shape the CA reads, a grpc-js
// ext_authz client of the agent's Check socket (as Envoy calls it), and awaiting CA reloads.
import { writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { PolicyReload } from '../../ca-server/policy-distribution.js';
import type { AuthorizationClient } from '../../protos/gen/envoy/service/auth/v3/Authorization.js';
import type { CheckResponse__Output } from '../../protos/gen/envoy/service/auth/v3/CheckResponse.js';
import type { ProtoGrpcType } from '../../protos/gen/external_auth.js';
import { loadProto } from '../../protos/load.js';
import type { CaFixture } from '../ca-server/fixture.js';
import { TRUST_DOMAIN } from '../ca-server/fixture.js';

export const API = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/api`;
export const FRONTEND = `spiffe://${TRUST_DOMAIN}/ns/web/sa/frontend`;
export const BATCH = `spiffe://${TRUST_DOMAIN}/ns/ops/sa/batch`;
export const EVIL = `spiffe://${TRUST_DOMAIN}/ns/quarantine/sa/evil`;

export const DENIED_BY_QUARANTINE = 'denied by istio-system/deny-quarantine rule 0';
export const NO_ALLOW = 'denied: no ALLOW policy matched';

/** `principal` without its scheme, as AuthorizationPolicy principals are written. */
const principal = (id: string) => id.slice('spiffe://'.length);

/**
 * Two policies: workloads labelled app=api in namespace shop take GET /orders* from `allowed`; the root
 * namespace denies everything from namespace quarantine.
 */
export function policyYaml(allowed: string[]): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-callers, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  rules:
  - from: [{source: {principals: [${allowed.map((id) => JSON.stringify(principal(id))).join(', ')}]}}]
    to: [{operation: {methods: [GET], paths: ["/orders*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-quarantine, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from: [{source: {namespaces: [quarantine]}}]
`;
}

/** Not a valid policy: a DENY without rules (which would deny nothing) and an unknown field. */
export const INVALID_POLICY_YAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: shop}
spec:
  action: DENY
  selectr: {matchLabels: {app: api}}
`;

export function writePolicies(file: string, allowed: string[]): Promise<void> {
  return writeFile(file, policyYaml(allowed));
}

/** Envoy's view of the agent's Check socket. */
export class AuthzClient {
  private readonly client: AuthorizationClient;

  constructor(socketPath: string) {
    const proto = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto');
    this.client = new proto.envoy.service.auth.v3.Authorization(`unix:${socketPath}`, grpc.credentials.createInsecure());
  }

  /**
   * What the agent decides for an mTLS `GET path` from `from` to the API workload (labels app=api):
   * "allowed", or the deny reason Envoy would put in the x-meshid-authz header.
   */
  async decide(from: string, path = '/orders'): Promise<string> {
    const response = await new Promise<CheckResponse__Output>((resolve, reject) =>
      this.client.Check(
        {
          attributes: {
            source: { principal: from },
            destination: { principal: API, labels: { app: 'api' } },
            request: { http: { method: 'GET', path, host: 'api.shop', headers: { ':authority': 'api.shop' }, protocol: 'HTTP/2' } },
          },
        },
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
    if (response.status?.code === 0) return 'allowed';
    return response.denied_response?.headers.find((h) => h.header?.key === 'x-meshid-authz')?.header?.value ?? `no reason (status ${response.status?.code})`;
  }

  close(): void {
    this.client.close();
  }
}

/** The CA's next policy reload (files or Kubernetes), applied or rejected. */
export function nextReload(ca: CaFixture): Promise<PolicyReload> {
  return new Promise((resolve) => {
    const stop = ca.server.policies.onReload((result) => {
      stop();
      resolve(result);
    });
  });
}
