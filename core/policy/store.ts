import type { AuthorizationPolicy, Decision, RequestAttributes, WorkloadRef } from './model.js';
import { PolicySet, type PolicySetOptions } from './policy-set.js';

export interface PolicyUpdate {
  /** Increments with every successful replace. */
  version: number;
  policies: number;
  /** Who supplied the set, e.g. "files", "kubernetes", "ca". */
  source: string;
}

/**
 * The enforced policy set. Sources (file watcher, Kubernetes watch, the CA's policy stream) call
 * `replace` with a complete set; it is compiled first and swapped in only if that succeeds, so a bad
 * update leaves the last good set in force and in-flight evaluations never see half a set.
 * Until the first set arrives every request is denied: an empty set would mean "allow everything".
 */
export class PolicyStore {
  private set: PolicySet | null = null;
  private version = 0;
  private readonly listeners = new Set<(update: PolicyUpdate) => void>();

  constructor(private readonly options: PolicySetOptions = {}) {}

  get current(): PolicySet | null {
    return this.set;
  }

  /**
   * Compiles and swaps in `policies`; throws PolicyValidationError (duplicates) and keeps the old set.
   * `options` override the store's for this set (the CA's stream names its own root namespace).
   */
  replace(policies: readonly AuthorizationPolicy[], source: string, options: PolicySetOptions = this.options): PolicyUpdate {
    this.set = new PolicySet(policies, options);
    const update = { version: ++this.version, policies: policies.length, source };
    for (const listener of this.listeners) listener(update);
    return update;
  }

  /** Called after every successful replace; returns the unsubscribe function. */
  subscribe(listener: (update: PolicyUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  evaluate(workload: WorkloadRef, attributes: RequestAttributes): Decision {
    if (!this.set) {
      return { allowed: false, action: null, policy: null, ruleIndex: null, reason: 'denied: no policy set loaded yet', audit: [] };
    }
    return this.set.evaluate(workload, attributes);
  }
}
