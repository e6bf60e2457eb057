/**
 * The authorization policy model: Istio's security.istio.io/v1 AuthorizationPolicy after validation
 * (validate.ts), plus the request attributes a decision is made from and the decision itself.
 * A list field that is absent stays `undefined`; validation never produces an empty list.
 */

export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT';

export interface AuthorizationPolicy {
  namespace: string;
  name: string;
  /** spec.selector.matchLabels; null selects every workload in scope. */
  selector: Readonly<Record<string, string>> | null;
  action: PolicyAction;
  /** Empty: the policy matches nothing. */
  rules: Rule[];
  /** Where the policy came from (file name, "kubernetes"), for messages. */
  origin?: string;
}

export interface Rule {
  from?: Source[];
  to?: Operation[];
  when?: Condition[];
}

export interface Source {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
}

export interface Operation {
  hosts?: string[];
  notHosts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
  ports?: string[];
  notPorts?: string[];
}

export interface Condition {
  key: string;
  values?: string[];
  notValues?: string[];
}

/**
 * Reserved selector label naming a workload by SPIFFE ID (for VMs, whose identity is the SPIFFE ID rather
 * than pod labels): `matchLabels: { "meshid.dev/spiffe-id": "spiffe://td/vm/billing" }` selects exactly the
 * workload holding that identity. Every workload implicitly carries this label with its own SPIFFE ID.
 */
export const SPIFFE_ID_LABEL = 'meshid.dev/spiffe-id';

/** The root namespace when none is configured: its policies apply mesh-wide (as in Istio). */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

export const policyId = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

/** The workload a request is addressed to: what selects the policies that apply. */
export interface WorkloadRef {
  /** Kubernetes namespace (for SPIFFE IDs of the form .../ns/<ns>/..., derived from the ID when not given). */
  namespace?: string;
  labels: Readonly<Record<string, string>>;
  spiffeId?: string;
}

/**
 * One request, as Envoy's ext_authz reports it. Attributes left undefined are unavailable (plaintext peer,
 * no JWT, Unix-socket listener): positive matches on them fail, negative ones fail closed (see compile.ts).
 */
export interface RequestAttributes {
  /** Peer certificate's SPIFFE ID, with scheme; undefined for plaintext. */
  principal?: string;
  sourceIp?: string;
  destinationIp?: string;
  destinationPort?: number;
  method: string;
  /** Request target as sent: path plus optional query. */
  path: string;
  /** Host / :authority, possibly with a port. */
  host?: string;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string>>;
  /** Verified JWT payload (from Envoy's jwt_authn filter); undefined when the request carried none. */
  jwtClaims?: Readonly<Record<string, unknown>>;
}

export interface PolicyMatch {
  /** namespace/name */
  policy: string;
  ruleIndex: number;
}

export interface Decision {
  allowed: boolean;
  /** Action of the policy that decided; null when no policy matched (default allow or default deny). */
  action: 'ALLOW' | 'DENY' | null;
  /** namespace/name of the deciding policy, or null. */
  policy: string | null;
  ruleIndex: number | null;
  /** Short, header-safe explanation, e.g. "denied by default/deny-foo rule 0". */
  reason: string;
  /** Every AUDIT policy that matched (first matching rule of each). Never changes `allowed`. */
  audit: PolicyMatch[];
}
