/**
 * Turns a validated AuthorizationPolicy into predicates over a PreparedRequest, once per policy change.
 *
 * Semantics (Istio's, see PROTOCOLS.md): inside a field the values are OR; fields of one source/operation
 * are AND; the `from` list is OR, the `to` list is OR, each `when` condition is AND; from, to and when are
 * AND. A rule without from/to/when matches everything; a policy without rules matches nothing.
 *
 * Unavailable attributes (no peer SPIFFE ID on plaintext, no JWT, no IP or port on a Unix-socket listener):
 * a positive field never matches. A negative field (notPrincipals, notNamespaces, notIpBlocks, notValues,
 * ...) fails closed: it matches in DENY and AUDIT policies (the request is denied / audited) and does not
 * match in ALLOW policies (the request is not allowed). Istio instead compares against an empty value, so
 * there `notNamespaces: [foo]` in an ALLOW policy lets plaintext from foo in (ISTIO-SECURITY-2021-004).
 * Absent headers and JWT claims are values, not unavailability (the client chooses them), and behave as in
 * Istio: a positive match fails, a negative one succeeds.
 */
import { compileIpMatcher, type IpAddress } from './ip.js';
import type { AuthorizationPolicy, Condition, Operation, PolicyAction, Rule, Source } from './model.js';
import { policyId } from './model.js';
import type { PreparedRequest, RequestPrincipal } from './request.js';
import { compileStringMatcher } from './string-match.js';

export type Check = (req: PreparedRequest) => boolean;

export interface CompiledPolicy {
  /** namespace/name */
  readonly id: string;
  readonly namespace: string;
  readonly action: PolicyAction;
  /** matchLabels as pairs; null selects every workload in scope. */
  readonly selector: ReadonlyArray<readonly [string, string]> | null;
  /** One predicate per rule, in rule order. */
  readonly rules: readonly Check[];
  /**
   * The exact peer principals a request must have for any rule to match, or null when the rules do not
   * pin the principal. Lets a policy set skip principal-keyed policies that cannot match a request.
   */
  readonly requiredPrincipals: ReadonlySet<string> | null;
}

export function compilePolicy(policy: AuthorizationPolicy): CompiledPolicy {
  const onUnavailable = policy.action !== 'ALLOW';
  return {
    id: policyId(policy),
    namespace: policy.namespace,
    action: policy.action,
    selector: policy.selector ? Object.entries(policy.selector) : null,
    rules: policy.rules.map((rule) => compileRule(rule, onUnavailable)),
    requiredPrincipals: requiredPrincipals(policy.rules),
  };
}

/**
 * A rule whose every `from` source lists exact principals matches only requests from one of them (a
 * positive field never matches an unavailable principal). Empty for a policy without rules.
 */
function requiredPrincipals(rules: readonly Rule[]): Set<string> | null {
  const required = new Set<string>();
  for (const rule of rules) {
    if (!rule.from) return null;
    for (const source of rule.from) {
      if (!source.principals || source.principals.some((p) => p.startsWith('*') || p.endsWith('*'))) return null;
      for (const p of source.principals) required.add(p);
    }
  }
  return required;
}

/** Index of the first rule that matches, or -1. */
export function firstMatchingRule(policy: CompiledPolicy, req: PreparedRequest): number {
  const rules = policy.rules;
  for (let i = 0; i < rules.length; i++) if (rules[i]!(req)) return i;
  return -1;
}

function compileRule(rule: Rule, onUnavailable: boolean): Check {
  const parts: Check[] = [];
  if (rule.from) parts.push(any(rule.from.map((f) => all(sourceChecks(f, onUnavailable)))));
  if (rule.to) parts.push(any(rule.to.map((t) => all(operationChecks(t, onUnavailable)))));
  if (rule.when) parts.push(...rule.when.flatMap((c) => conditionChecks(c, onUnavailable)));
  return all(parts);
}

function all(checks: Check[]): Check {
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0]!;
  if (checks.length === 2) {
    const [a, b] = checks as [Check, Check];
    return (req) => a(req) && b(req);
  }
  return (req) => {
    for (const check of checks) if (!check(req)) return false;
    return true;
  };
}

function any(checks: Check[]): Check {
  if (checks.length === 1) return checks[0]!;
  return (req) => {
    for (const check of checks) if (check(req)) return true;
    return false;
  };
}

/**
 * A positive and a negative check on one attribute. `match` gets an available value; `absent` is what the
 * negative check answers when the value is undefined (the positive one always answers false).
 */
function field<T>(
  get: (req: PreparedRequest) => T | undefined,
  match: (values: string[]) => (value: T) => boolean,
  values: string[] | undefined,
  notValues: string[] | undefined,
  absent: boolean,
): Check[] {
  const checks: Check[] = [];
  if (values) {
    const m = match(values);
    checks.push((req) => {
      const v = get(req);
      return v !== undefined && m(v);
    });
  }
  if (notValues) {
    const m = match(notValues);
    checks.push((req) => {
      const v = get(req);
      return v === undefined ? absent : !m(v);
    });
  }
  return checks;
}

const strings = compileStringMatcher;
const ips = (blocks: string[]) => compileIpMatcher(blocks);
const namespaceList = (patterns: string[]) => {
  const m = compileStringMatcher(patterns);
  return (candidates: readonly string[]) => candidates.some(m);
};
const portSet = (ports: string[]) => {
  const set = new Set(ports.map(Number));
  return (port: number) => set.has(port);
};

const principalOf = (req: PreparedRequest) => req.principal;
const namespacesOf = (req: PreparedRequest) => req.namespaces;
const sourceIpOf = (req: PreparedRequest) => req.sourceIp;
const requestPrincipalOf = (req: PreparedRequest) => req.requestPrincipal;

function sourceChecks(s: Source, onUnavailable: boolean): Check[] {
  return [
    ...field(principalOf, strings, s.principals, s.notPrincipals, onUnavailable),
    ...field(namespacesOf, namespaceList, s.namespaces, s.notNamespaces, onUnavailable),
    ...field<IpAddress>(sourceIpOf, ips, s.ipBlocks, s.notIpBlocks, onUnavailable),
    ...field(requestPrincipalOf, requestPrincipals, s.requestPrincipals, s.notRequestPrincipals, onUnavailable),
  ];
}

/** Method and path are always present; host and port may be unavailable. */
function operationChecks(o: Operation, onUnavailable: boolean): Check[] {
  return [
    ...field((req) => (req.host === undefined ? undefined : req), hostMatcher, o.hosts, o.notHosts, onUnavailable),
    ...field((req) => req.method, strings, o.methods, o.notMethods, onUnavailable),
    ...field((req) => req.path, strings, o.paths, o.notPaths, onUnavailable),
    ...field((req) => req.destinationPort, portSet, o.ports, o.notPorts, onUnavailable),
  ];
}

/**
 * Istio compares hosts with the :authority exactly as sent, so `hosts: [a.com]` misses `a.com:443` and an
 * exact-host DENY is bypassed by adding the port. meshid also tries the host without its port, so `a.com`
 * covers `a.com:<any port>` while `a.com:8080` still matches only that port.
 */
function hostMatcher(patterns: string[]) {
  const m = compileStringMatcher(patterns.map((p) => p.toLowerCase()));
  return (req: PreparedRequest) => m(req.host!) || m(req.hostWithoutPort!);
}

/** Istio splits a request principal pattern at its last "/" into issuer and subject patterns. */
function requestPrincipals(patterns: string[]) {
  const compiled = patterns.map(compileRequestPrincipal);
  return (p: RequestPrincipal) => compiled.some((m) => m(p));
}

function compileRequestPrincipal(pattern: string): (p: RequestPrincipal) => boolean {
  const nonEmpty = (s: string) => s.length > 0;
  const exact = (e: string) => (s: string) => s === e;
  const slash = pattern.lastIndexOf('/');
  const iss = slash === -1 ? pattern : pattern.slice(0, slash);
  const sub = slash === -1 ? '' : pattern.slice(slash + 1);
  let matchIss: (s: string) => boolean;
  let matchSub: (s: string) => boolean;
  if (pattern === '*') {
    matchIss = nonEmpty;
    matchSub = nonEmpty;
  } else if (pattern.startsWith('*')) {
    if (slash !== -1) {
      const suffix = iss.slice(1);
      matchIss = iss === '*' ? nonEmpty : (s) => s.endsWith(suffix);
      matchSub = exact(sub);
    } else {
      const suffix = pattern.slice(1);
      matchIss = nonEmpty;
      matchSub = (s) => s.endsWith(suffix);
    }
  } else if (pattern.endsWith('*')) {
    if (slash !== -1) {
      const prefix = sub.slice(0, -1);
      matchIss = exact(iss);
      matchSub = sub === '*' ? nonEmpty : (s) => s.startsWith(prefix);
    } else {
      const prefix = pattern.slice(0, -1);
      matchIss = (s) => s.startsWith(prefix);
      matchSub = nonEmpty;
    }
  } else {
    matchIss = exact(iss);
    matchSub = exact(sub);
  }
  return (p) => matchIss(p.iss) && matchSub(p.sub);
}

/** `request.headers[name]` / `request.auth.claims[a][b]`: the names in brackets. */
export function bracketNames(key: string, prefix: string): string[] | null {
  const rest = key.slice(prefix.length);
  const names: string[] = [];
  const re = /\[([^[\]]+)\]/y;
  let pos = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) return null;
    names.push(m[1]!);
    pos = re.lastIndex;
  }
  return names.length > 0 ? names : null;
}

/** A claim as the strings it holds: a string, or the strings of a list; anything else holds none. */
function claimStrings(claims: Readonly<Record<string, unknown>>, path: readonly string[]): string[] | undefined {
  let value: unknown = claims;
  for (const name of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return undefined;
}

/**
 * Claim conditions: without a JWT the attribute is unavailable (fail closed); with one, a missing claim is
 * an absent value.
 */
function claimChecks(path: string[], values: string[] | undefined, notValues: string[] | undefined, onUnavailable: boolean): Check[] {
  const checks: Check[] = [];
  if (values) {
    const m = compileStringMatcher(values);
    checks.push((req) => {
      if (!req.claims) return false;
      const held = claimStrings(req.claims, path);
      return held !== undefined && held.some(m);
    });
  }
  if (notValues) {
    const m = compileStringMatcher(notValues);
    checks.push((req) => {
      if (!req.claims) return onUnavailable;
      const held = claimStrings(req.claims, path);
      return held === undefined || !held.some(m);
    });
  }
  return checks;
}

function headerValue(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

export const HEADER_KEY = 'request.headers';
export const CLAIMS_KEY = 'request.auth.claims';

/** The `when` keys meshid evaluates (validate.ts rejects every other key). */
export const CONDITION_KEYS = [
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
] as const;

function conditionChecks(c: Condition, onUnavailable: boolean): Check[] {
  const { key, values, notValues } = c;
  switch (key) {
    case 'source.ip':
      return field<IpAddress>(sourceIpOf, ips, values, notValues, onUnavailable);
    case 'source.namespace':
      return field(namespacesOf, namespaceList, values, notValues, onUnavailable);
    case 'source.principal':
      return field(principalOf, strings, values, notValues, onUnavailable);
    case 'destination.ip':
      return field<IpAddress>((req) => req.destinationIp, ips, values, notValues, onUnavailable);
    case 'destination.port':
      return field((req) => req.destinationPort, portSet, values, notValues, onUnavailable);
    case 'request.auth.principal':
      return field(requestPrincipalOf, requestPrincipals, values, notValues, onUnavailable);
    case 'request.auth.audiences':
      return claimChecks(['aud'], values, notValues, onUnavailable);
    case 'request.auth.presenter':
      return claimChecks(['azp'], values, notValues, onUnavailable);
  }
  if (key.startsWith(HEADER_KEY)) {
    const name = bracketNames(key, HEADER_KEY)![0]!.toLowerCase();
    // strings only: `headers` is a plain object, and a name like "constructor" must not find Object.prototype's
    return field((req) => headerValue(req.headers, name), strings, values, notValues, true);
  }
  if (key.startsWith(CLAIMS_KEY)) return claimChecks(bracketNames(key, CLAIMS_KEY)!, values, notValues, onUnavailable);
  throw new Error(`unvalidated condition key "${key}"`);
}
