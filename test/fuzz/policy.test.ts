/**
 * Policy validation, compilation and evaluation (core/policy) on hostile input.
 *
 * Properties: validatePolicy never throws on anything a JSON or YAML decoder (or fast-check) can produce:
 * it returns the policy or issues, each with a field path and a message string, and parsePolicy throws
 * PolicyValidationError exactly then; an accepted policy survives toPolicyObject and a JSON round trip
 * unchanged (how the CA ships policies to agents) and compiles; every policy the grammar allows is
 * accepted; a compiled policy evaluates any request to a well-formed decision or the documented
 * INVALID_ARGUMENT, and gives the same decision when the request's maps have no prototype (names such
 * as "constructor" must not be found on Object.prototype).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshidError } from '../../core/errors.js';
import type { AuthorizationPolicy, Decision, RequestAttributes, WorkloadRef } from '../../core/policy/model.js';
import { PolicySet } from '../../core/policy/policy-set.js';
import { toPolicyObject } from '../../core/policy/to-object.js';
import { parsePolicy, PolicyValidationError, validatePolicy } from '../../core/policy/validate.js';
import { applyTreeEdits, grammarPolicy, requestAttributes, treeEdits, workload } from './policy-arbitraries.js';
import { check, fuzz, fuzzTimeout } from './runs.js';

const show = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x === undefined ? '<undefined>' : typeof x === 'bigint' ? `${x}n` : x));

/** Validates `raw` as the loaders do and checks the result's shape; returns the policy if accepted. */
function checkValidation(raw: unknown): AuthorizationPolicy | undefined {
  const result = validatePolicy(raw, { origin: 'fuzz.yaml', label: 'document 1' });
  let thrown: unknown;
  try {
    parsePolicy(raw, { origin: 'fuzz.yaml' });
  } catch (err) {
    thrown = err;
  }
  if ('issues' in result) {
    check(result.issues.length > 0, () => `no issues and no policy for ${show(raw)}`);
    for (const issue of result.issues) {
      check(typeof issue.path === 'string' && typeof issue.message === 'string' && issue.message.length > 0, () => `malformed issue ${show(issue)} (message ${typeof issue.message}) for ${show(raw)}`);
    }
    check(thrown instanceof PolicyValidationError && thrown.code === 'INVALID_ARGUMENT', () => `parsePolicy threw ${String(thrown)} for ${show(raw)}`);
    return undefined;
  }
  check(thrown === undefined, () => `parsePolicy threw ${String(thrown)} for an accepted policy`);
  const policy: AuthorizationPolicy = { ...result.policy };
  delete policy.origin; // not shipped
  const shipped: unknown = JSON.parse(JSON.stringify(toPolicyObject(result.policy)));
  const back = validatePolicy(shipped);
  check('policy' in back && isDeepStrictEqual(back.policy, policy), () => `policy changed on its way to agents: ${show(policy)} came back as ${show(back)}`);
  return result.policy;
}

const withoutPrototype = <T extends object>(o: T | undefined): T | undefined => (o === undefined ? undefined : Object.assign(Object.create(null) as T, o));

/** Evaluates, allowing only the documented refusal of malformed attributes. */
function evaluate(set: PolicySet, target: WorkloadRef, attributes: RequestAttributes): Decision | 'bad_request_attributes' {
  try {
    return set.evaluate(target, attributes);
  } catch (err) {
    check(err instanceof MeshidError && err.code === 'INVALID_ARGUMENT' && err.reason === 'bad_request_attributes', () => `evaluate threw ${String(err)} for ${show(attributes)}`);
    return 'bad_request_attributes';
  }
}

function checkDecision(d: Decision | 'bad_request_attributes'): void {
  if (d === 'bad_request_attributes') return;
  const shapeOk =
    typeof d.allowed === 'boolean' &&
    typeof d.reason === 'string' &&
    Array.isArray(d.audit) &&
    (d.action === null || (d.action === 'DENY' && !d.allowed) || (d.action === 'ALLOW' && d.allowed));
  check(shapeOk, () => `malformed decision ${show(d)}`);
}

describe('policies (validation, compilation, evaluation)', () => {
  it('validation never throws and reports issues with messages', { timeout: fuzzTimeout() }, async () => {
    const raw = fc.oneof(
      fc.anything(),
      fc.jsonValue(),
      fc.tuple(grammarPolicy, treeEdits).map(([policy, list]) => applyTreeEdits(policy, list)),
    );
    await fuzz('policy-validate', fc.property(raw, (value) => void checkValidation(value)), { defaultRuns: 4000 });
  });

  it('compiled policies evaluate any request, prototypes or not', { timeout: fuzzTimeout() }, async () => {
    const policies = fc.uniqueArray(grammarPolicy, { minLength: 1, maxLength: 3, selector: (p) => `${p.metadata.namespace}/${p.metadata.name}` });
    const input = fc.record({ policies, target: workload, requests: fc.array(requestAttributes, { minLength: 1, maxLength: 4 }) });
    await fuzz(
      'policy-evaluate',
      fc.property(input, ({ policies: raws, target, requests }) => {
        const accepted = raws.map((raw) => {
          const policy = checkValidation(raw);
          check(policy !== undefined, () => `validation refused a policy the grammar allows: ${show(raw)}: ${show(validatePolicy(raw))}`);
          // every label the selector names is kept: a dropped one would widen the policy to more workloads
          const labels = Object.keys(raw.spec.selector?.matchLabels ?? {});
          check(isDeepStrictEqual(Object.keys(policy.selector ?? {}), labels), () => `selector ${show(labels)} became ${show(policy.selector)}`);
          return policy;
        });
        const set = new PolicySet(accepted);
        const bare = { ...target, labels: withoutPrototype(target.labels)! };
        for (const attributes of requests) {
          const decision = evaluate(set, target, attributes);
          checkDecision(decision);
          const plain = evaluate(new PolicySet(accepted), bare, { ...attributes, headers: withoutPrototype(attributes.headers)!, jwtClaims: withoutPrototype(attributes.jwtClaims) });
          check(isDeepStrictEqual(decision, plain), () => `decision depends on Object.prototype: ${show(decision)} vs ${show(plain)} for ${show(accepted)} and ${show(attributes)}`);
        }
      }),
      { defaultRuns: 2000 },
    );
  });
});

describe('policy regressions found by this target', () => {
  const base = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p', namespace: 'prod' },
    spec,
    ...extra,
  });
  const messages = (raw: unknown) => {
    const result = validatePolicy(raw);
    return 'issues' in result ? result.issues.map((i) => i.message) : [];
  };

  it('an unknown field or attribute named like an Object.prototype member gets a message, not a function', () => {
    // was: the message was Object.prototype.isPrototypeOf / Object itself, printed as its source text
    expect(messages(base({}, { isPrototypeOf: {} }))).toEqual([expect.stringMatching(/^unknown field/)]);
    expect(messages(base({ rules: [{ when: [{ key: 'constructor', values: ['x'] }] }] }))).toEqual([expect.stringMatching(/^unknown attribute: constructor/)]);
  });

  it('a header condition on "constructor" sees an absent header, not Object.prototype.constructor', () => {
    // was: values ["*"] matched every request (an ALLOW opened to all), "x*" threw TypeError
    const decide = (action: string, condition: Record<string, unknown>) =>
      new PolicySet([parsePolicy(base({ action, rules: [{ when: [{ key: 'request.headers[constructor]', ...condition }] }] }))]).evaluate({ namespace: 'prod', labels: {} }, { method: 'GET', path: '/', headers: {} }).allowed;
    expect(decide('ALLOW', { values: ['*'] })).toBe(false);
    expect(decide('ALLOW', { values: ['x*'] })).toBe(false);
    expect(decide('DENY', { notValues: ['x'] })).toBe(false); // absent: the negative match denies
  });

  it('a "__proto__" label in a selector is kept, so the policy does not widen to every workload', () => {
    // was: dropped by `selector[key] = value`, leaving selector null (all workloads of the namespace)
    const raw = base({ action: 'DENY', rules: [{}], selector: { matchLabels: JSON.parse('{"__proto__": "web"}') as Record<string, string> } });
    const policy = parsePolicy(raw);
    expect(Object.keys(policy.selector ?? {})).toEqual(['__proto__']);
    expect(new PolicySet([policy]).evaluate({ namespace: 'prod', labels: { app: 'web' } }, { method: 'GET', path: '/', headers: {} }).allowed).toBe(true);
  });
});
