import { firstMatchingRule, type CompiledPolicy } from './compile.js';
import type { PolicyMatch } from './model.js';
import type { PreparedRequest } from './request.js';

const NONE: readonly CompiledPolicy[] = [];

/**
 * The policies of one action that apply to one workload, keyed by the exact peer principal they require
 * where they pin one. A request is tried against the unkeyed policies and those keyed by its own principal
 * only, in namespace/name order, so "allow these 1,000 callers" costs one map lookup, not 1,000 checks.
 */
export class PolicyIndex {
  private readonly unkeyed: CompiledPolicy[] = [];
  private readonly byPrincipal = new Map<string, CompiledPolicy[]>();

  /** `policies` sorted by id. */
  constructor(readonly policies: readonly CompiledPolicy[]) {
    for (const p of policies) {
      if (!p.requiredPrincipals) {
        this.unkeyed.push(p);
        continue;
      }
      for (const principal of p.requiredPrincipals) {
        const list = this.byPrincipal.get(principal);
        if (list) list.push(p);
        else this.byPrincipal.set(principal, [p]);
      }
    }
  }

  get size(): number {
    return this.policies.length;
  }

  /** The first policy (by id) with a matching rule. */
  firstMatch(req: PreparedRequest): PolicyMatch | null {
    let found: PolicyMatch | null = null;
    this.candidates(req, (p) => {
      const rule = firstMatchingRule(p, req);
      if (rule === -1) return false;
      found = { policy: p.id, ruleIndex: rule };
      return true;
    });
    return found;
  }

  /** Every matching policy, each with its first matching rule. */
  allMatches(req: PreparedRequest): PolicyMatch[] {
    const matches: PolicyMatch[] = [];
    this.candidates(req, (p) => {
      const rule = firstMatchingRule(p, req);
      if (rule !== -1) matches.push({ policy: p.id, ruleIndex: rule });
      return false;
    });
    return matches;
  }

  /** Visits the candidates in id order (a merge of two sorted lists) until `visit` returns true. */
  private candidates(req: PreparedRequest, visit: (p: CompiledPolicy) => boolean): void {
    const a = this.unkeyed;
    const b = (req.principal !== undefined && this.byPrincipal.get(req.principal)) || NONE;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const p = j >= b.length || (i < a.length && a[i]!.id < b[j]!.id) ? a[i++]! : b[j++]!;
      if (visit(p)) return;
    }
  }
}
