import type { AuthorizationPolicy, Rule } from './model.js';

/**
 * A validated policy back in its Kubernetes form (security.istio.io/v1 AuthorizationPolicy), e.g. to send it
 * to node agents as JSON. `validatePolicy(toPolicyObject(p))` gives back `p` (without `origin`).
 */
export function toPolicyObject(policy: AuthorizationPolicy): Record<string, unknown> {
  const spec: Record<string, unknown> = { action: policy.action };
  if (policy.selector) spec['selector'] = { matchLabels: { ...policy.selector } };
  // No rules: omitted, not `[]`, which reads the same but is easy to mistake for "match everything".
  if (policy.rules.length > 0) spec['rules'] = policy.rules.map(ruleObject);
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: policy.name, namespace: policy.namespace },
    spec,
  };
}

function ruleObject(rule: Rule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rule.from) out['from'] = rule.from.map((source) => ({ source }));
  if (rule.to) out['to'] = rule.to.map((operation) => ({ operation }));
  if (rule.when) out['when'] = rule.when;
  return out;
}
