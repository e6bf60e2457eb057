import { compilePolicy, type CompiledPolicy } from './compile.js';
import {
  DEFAULT_ROOT_NAMESPACE,
  policyId,
  SPIFFE_ID_LABEL,
  type AuthorizationPolicy,
  type Decision,
  type PolicyMatch,
  type RequestAttributes,
  type WorkloadRef,
} from './model.js';
import { PolicyIndex } from './policy-index.js';
import { namespacesOfPrincipal, prepareRequest } from './request.js';
import { PolicyValidationError, type PolicyIssue } from './validate.js';

/** The policies that apply to one workload, by action, each in namespace/name order. */
export interface ApplicablePolicies {
  deny: PolicyIndex;
  allow: PolicyIndex;
  audit: PolicyIndex;
}

export interface PolicySetOptions {
  /** Policies in this namespace apply mesh-wide. Default istio-system. */
  rootNamespace?: string;
}

/** Distinct workloads remembered per set; beyond this the index starts over (a node serves a handful). */
const WORKLOAD_INDEX_LIMIT = 4096;

/** The namespace a workload lives in: given, or the first one its SPIFFE ID names. */
export function workloadNamespace(workload: WorkloadRef): string | undefined {
  if (workload.namespace) return workload.namespace;
  if (!workload.spiffeId?.startsWith('spiffe://')) return undefined;
  return namespacesOfPrincipal(workload.spiffeId.slice('spiffe://'.length))[0];
}

/**
 * An immutable, compiled set of policies. Everything request-independent happens here, once: validation of
 * uniqueness, compilation to predicates, a per-namespace index, and (lazily, per workload) the list of
 * policies that apply. `evaluate` then only runs the predicates of the applicable policies.
 */
export class PolicySet {
  readonly policies: readonly AuthorizationPolicy[];
  readonly rootNamespace: string;
  private readonly byNamespace = new Map<string, CompiledPolicy[]>();
  private readonly workloadIndex = new Map<string, ApplicablePolicies>();

  constructor(policies: readonly AuthorizationPolicy[], options: PolicySetOptions = {}) {
    this.rootNamespace = options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
    const seen = new Map<string, AuthorizationPolicy>();
    const duplicates: PolicyIssue[] = [];
    for (const p of policies) {
      const id = policyId(p);
      const first = seen.get(id);
      if (first) {
        duplicates.push({ origin: p.origin, policy: id, path: 'metadata.name', message: `duplicate policy (also defined in ${first.origin ?? 'the same source'})` });
      } else {
        seen.set(id, p);
      }
    }
    if (duplicates.length > 0) throw new PolicyValidationError(duplicates);
    this.policies = [...policies].sort((a, b) => compareIds(policyId(a), policyId(b)));
    for (const p of this.policies) {
      const compiled = compilePolicy(p);
      const list = this.byNamespace.get(p.namespace);
      if (list) list.push(compiled);
      else this.byNamespace.set(p.namespace, [compiled]);
    }
  }

  get size(): number {
    return this.policies.length;
  }

  /** Root-namespace policies and policies of the workload's namespace whose selector matches it. */
  applicableTo(workload: WorkloadRef): ApplicablePolicies {
    const namespace = workloadNamespace(workload);
    const key = workloadKey(namespace, workload);
    const cached = this.workloadIndex.get(key);
    if (cached) return cached;
    const candidates = [
      ...(this.byNamespace.get(this.rootNamespace) ?? []),
      ...(namespace !== undefined && namespace !== this.rootNamespace ? (this.byNamespace.get(namespace) ?? []) : []),
    ];
    const selected = candidates.filter((p) => selects(p, workload)).sort((a, b) => compareIds(a.id, b.id));
    const applicable: ApplicablePolicies = {
      deny: new PolicyIndex(selected.filter((p) => p.action === 'DENY')),
      allow: new PolicyIndex(selected.filter((p) => p.action === 'ALLOW')),
      audit: new PolicyIndex(selected.filter((p) => p.action === 'AUDIT')),
    };
    if (this.workloadIndex.size >= WORKLOAD_INDEX_LIMIT) this.workloadIndex.clear();
    this.workloadIndex.set(key, applicable);
    return applicable;
  }

  /**
   * Istio's order: any matching DENY denies; with no ALLOW policy for the workload the request is allowed;
   * any matching ALLOW allows; otherwise denied. AUDIT matches are reported and never change the outcome.
   * Throws INVALID_ARGUMENT for malformed attributes (callers deny).
   */
  evaluate(workload: WorkloadRef, attributes: RequestAttributes): Decision {
    const req = prepareRequest(attributes);
    const applicable = this.applicableTo(workload);
    const audit = applicable.audit.size === 0 ? [] : applicable.audit.allMatches(req);
    const deny = applicable.deny.firstMatch(req);
    if (deny) return decision(false, 'DENY', deny, `denied by ${deny.policy} rule ${deny.ruleIndex}`, audit);
    if (applicable.allow.size === 0) return decision(true, null, null, 'allowed: no ALLOW policy applies', audit);
    const allow = applicable.allow.firstMatch(req);
    if (allow) return decision(true, 'ALLOW', allow, `allowed by ${allow.policy} rule ${allow.ruleIndex}`, audit);
    return decision(false, null, null, 'denied: no ALLOW policy matched', audit);
  }
}

function decision(allowed: boolean, action: Decision['action'], match: PolicyMatch | null, reason: string, audit: PolicyMatch[]): Decision {
  return { allowed, action, policy: match?.policy ?? null, ruleIndex: match?.ruleIndex ?? null, reason, audit };
}

function selects(policy: CompiledPolicy, workload: WorkloadRef): boolean {
  if (!policy.selector) return true;
  for (const [key, value] of policy.selector) {
    const actual = key === SPIFFE_ID_LABEL ? workload.spiffeId : workload.labels[key];
    if (actual !== value) return false;
  }
  return true;
}

function workloadKey(namespace: string | undefined, workload: WorkloadRef): string {
  let key = `${namespace ?? ''}\u0000${workload.spiffeId ?? ''}`;
  for (const name in workload.labels) key += `\u0000${name}=${workload.labels[name]}`;
  return key;
}

const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
