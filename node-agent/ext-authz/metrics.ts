import { Counter, Histogram, Registry } from 'prom-client';
import type { Decision } from '../../core/policy/model.js';

/** Authorization metrics; pass the agent's registry to expose them on its /metrics. */
export class AuthzMetrics {
  readonly registry: Registry;
  readonly decisions: Counter<'decision' | 'action' | 'policy'>;
  readonly auditMatches: Counter<'policy'>;
  readonly evaluationSeconds: Histogram;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.decisions = new Counter({
      name: 'meshid_authz_decisions_total',
      help: 'ext_authz decisions by outcome (allow, deny), the action of the deciding policy (ALLOW, DENY, none, malformed) and that policy (namespace/name, or none).',
      labelNames: ['decision', 'action', 'policy'] as const,
      registers: [registry],
    });
    this.auditMatches = new Counter({
      name: 'meshid_authz_audit_matches_total',
      help: 'Requests matched by an AUDIT policy, by policy.',
      labelNames: ['policy'] as const,
      registers: [registry],
    });
    this.evaluationSeconds = new Histogram({
      name: 'meshid_authz_evaluation_duration_seconds',
      help: 'Time to read a CheckRequest and evaluate the policies for it.',
      buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005],
      registers: [registry],
    });
  }

  record(decision: Decision, seconds: number): void {
    this.decisions.inc({ decision: decision.allowed ? 'allow' : 'deny', action: decision.action ?? 'none', policy: decision.policy ?? 'none' });
    for (const match of decision.audit) this.auditMatches.inc({ policy: match.policy });
    this.evaluationSeconds.observe(seconds);
  }

  recordMalformed(seconds: number): void {
    this.decisions.inc({ decision: 'deny', action: 'malformed', policy: 'none' });
    this.evaluationSeconds.observe(seconds);
  }
}
