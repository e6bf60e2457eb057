/**
 * Validation of AuthorizationPolicy objects (from YAML or the Kubernetes API) into the model. Follows
 * Istio's validation webhook (empty from/to/source/operation, empty values, IPs, ports, `when` keys, DENY
 * without rules) and is stricter where silence would change what a policy means: unknown fields and Istio
 * features meshid does not implement are errors, never ignored. Every issue names the field path.
 */
import { MeshidError } from '../errors.js';
import { SpiffeId } from '../spiffeid.js';
import { bracketNames, CLAIMS_KEY, CONDITION_KEYS, HEADER_KEY } from './compile.js';
import { parseIpBlock } from './ip.js';
import { SPIFFE_ID_LABEL, type AuthorizationPolicy, type Condition, type Operation, type PolicyAction, type Rule, type Source } from './model.js';

export interface PolicyIssue {
  /** File name or "kubernetes". */
  origin?: string;
  /** namespace/name, or "document N" when the name is unknown. */
  policy?: string;
  /** Field path, e.g. spec.rules[0].to[0].operation.methods */
  path: string;
  message: string;
}

export const formatIssue = (i: PolicyIssue): string => [i.origin, i.policy, i.path, i.message].filter((p) => p).join(': ');

export class PolicyValidationError extends MeshidError {
  constructor(readonly issues: readonly PolicyIssue[]) {
    super('INVALID_ARGUMENT', issues.map(formatIssue).join('\n'), 'invalid_policy');
  }
}

export const API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;
export const KIND = 'AuthorizationPolicy';

const ACTIONS: readonly PolicyAction[] = ['ALLOW', 'DENY', 'AUDIT'];
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'requestPrincipals', 'notRequestPrincipals'] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths', 'ports', 'notPorts'] as const;
/** Standard Kubernetes object metadata; only name and namespace mean anything here. */
const METADATA_FIELDS = [
  'name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'finalizers', 'ownerReferences', 'generateName', 'selfLink',
];

/** Istio fields and attributes meshid rejects rather than ignores, with what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  'spec.provider': 'provider belongs to the CUSTOM action, which meshid does not support',
  'spec.targetRef': 'targetRef (Gateway API attachment) is not supported by meshid; use selector',
  'spec.targetRefs': 'targetRefs (Gateway API attachment) is not supported by meshid; use selector',
  remoteIpBlocks: 'remoteIpBlocks (X-Forwarded-For based) is not supported by meshid; use ipBlocks',
  notRemoteIpBlocks: 'notRemoteIpBlocks (X-Forwarded-For based) is not supported by meshid; use notIpBlocks',
  serviceAccounts: 'serviceAccounts is not supported by meshid; use principals: ["<td>/ns/<ns>/sa/<sa>"]',
  notServiceAccounts: 'notServiceAccounts is not supported by meshid; use notPrincipals',
  'remote.ip': 'remote.ip (X-Forwarded-For based) is not supported by meshid; use source.ip',
  'connection.sni': 'connection.sni is not supported by meshid',
  'destination.namespace': 'destination.namespace is not a condition: the policy applies to its own metadata.namespace',
  'destination.name': 'destination.name is an old v1alpha1 attribute; select the workload with spec.selector',
  'destination.user': 'destination.user is an old v1alpha1 attribute; select the workload with spec.selector',
};

/** UNSUPPORTED's message for a field or attribute: own entries only, so "constructor" finds no Object.prototype member. */
const unsupportedMessage = (key: string): string | undefined => (Object.hasOwn(UNSUPPORTED, key) ? UNSUPPORTED[key] : undefined);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) => (v === undefined ? 'nothing' : v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`);

/** Collects issues for one policy, each under its field path. */
class IssueList {
  readonly issues: PolicyIssue[] = [];
  policy: string | undefined;
  constructor(
    private readonly origin: string | undefined,
    fallbackLabel: string | undefined,
  ) {
    this.policy = fallbackLabel;
  }

  add(path: string, message: string): void {
    this.issues.push({ origin: this.origin, policy: this.policy, path, message });
  }

  /** Reports keys outside `known` (and UNSUPPORTED ones with their own message). */
  unknownKeys(obj: Json, path: string, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      const full = path ? `${path}.${key}` : key;
      const unsupported = unsupportedMessage(full) ?? unsupportedMessage(key);
      this.add(full, unsupported ?? `unknown field (expected ${known.join(', ')})`);
    }
  }
}

export interface ValidateOptions {
  /** File name or "kubernetes", prefixed to every issue. */
  origin?: string;
  /** Names the policy in issues until metadata is read, e.g. "document 2". */
  label?: string;
}

/** Validates one decoded object; returns the policy, or the issues found (never both). */
export function validatePolicy(raw: unknown, options: ValidateOptions = {}): { policy: AuthorizationPolicy } | { issues: PolicyIssue[] } {
  const out = new IssueList(options.origin, options.label);
  if (!isMap(raw)) {
    out.add('', `expected an AuthorizationPolicy mapping, got ${describe(raw)}`);
    return { issues: out.issues };
  }
  const meta = readMetadata(raw['metadata'], out);
  out.unknownKeys(raw, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (!(API_VERSIONS as readonly unknown[]).includes(raw['apiVersion'])) {
    out.add('apiVersion', `expected ${API_VERSIONS.join(' or ')}, got ${describe(raw['apiVersion'])}`);
  }
  if (raw['kind'] !== KIND) out.add('kind', `expected ${KIND}, got ${describe(raw['kind'])}`);
  const spec = readSpec(raw['spec'], out);
  if (out.issues.length > 0 || !meta || !spec) return { issues: out.issues };
  return { policy: { ...meta, ...spec, ...(options.origin ? { origin: options.origin } : {}) } };
}

/** Like validatePolicy, but throws PolicyValidationError. */
export function parsePolicy(raw: unknown, options: ValidateOptions = {}): AuthorizationPolicy {
  const result = validatePolicy(raw, options);
  if ('issues' in result) throw new PolicyValidationError(result.issues);
  return result.policy;
}

function readMetadata(raw: unknown, out: IssueList): { namespace: string; name: string } | null {
  if (!isMap(raw)) {
    out.add('metadata', `required: a mapping with name and namespace, got ${describe(raw)}`);
    return null;
  }
  out.unknownKeys(raw, 'metadata', METADATA_FIELDS);
  const { name, namespace, annotations } = raw;
  const nameOk = typeof name === 'string' && DNS_SUBDOMAIN.test(name);
  const nsOk = typeof namespace === 'string' && DNS_LABEL.test(namespace);
  if (nameOk && nsOk) out.policy = `${namespace}/${name}`;
  if (!nameOk) out.add('metadata.name', `required: a lower-case DNS name, got ${describe(name)}`);
  if (!nsOk) {
    out.add('metadata.namespace', `required: a lower-case DNS label (policies in the root namespace apply mesh-wide), got ${describe(namespace)}`);
  }
  if (isMap(annotations) && annotations['istio.io/dry-run'] === 'true') {
    out.add('metadata.annotations.istio.io/dry-run', 'dry-run policies are not supported by meshid; use action AUDIT to observe without enforcing');
  }
  return nameOk && nsOk ? { namespace: namespace as string, name: name as string } : null;
}

function readSpec(raw: unknown, out: IssueList): Pick<AuthorizationPolicy, 'selector' | 'action' | 'rules'> | null {
  // An absent spec is `{}`: an ALLOW policy without rules, which denies everything in its scope (as in Istio).
  const spec = raw === undefined ? {} : raw;
  if (!isMap(spec)) {
    out.add('spec', `expected a mapping, got ${describe(spec)}`);
    return null;
  }
  out.unknownKeys(spec, 'spec', ['selector', 'action', 'rules']);
  const before = out.issues.length;
  let action: PolicyAction = 'ALLOW';
  if (spec['action'] !== undefined) {
    if (spec['action'] === 'CUSTOM') out.add('spec.action', 'the CUSTOM action (external authorizers) is not supported by meshid');
    else if (!(ACTIONS as readonly unknown[]).includes(spec['action'])) out.add('spec.action', `expected one of ${ACTIONS.join(', ')}, got ${describe(spec['action'])}`);
    else action = spec['action'] as PolicyAction;
  }
  const selector = readSelector(spec['selector'], out);
  let rules: Rule[] = [];
  if (spec['rules'] !== undefined && spec['rules'] !== null) {
    if (!Array.isArray(spec['rules'])) out.add('spec.rules', `expected a list of rules, got ${describe(spec['rules'])}`);
    else rules = spec['rules'].map((r, i) => readRule(r, `spec.rules[${i}]`, out));
  }
  if (action === 'DENY' && rules.length === 0 && out.issues.length === before) {
    out.add('spec.rules', 'a DENY policy without rules never denies anything; use `rules: [{}]` to deny every request');
  }
  return out.issues.length === before ? { action, selector, rules } : null;
}

function readSelector(raw: unknown, out: IssueList): Record<string, string> | null {
  if (raw === undefined || raw === null) return null;
  if (!isMap(raw)) {
    out.add('spec.selector', `expected a mapping with matchLabels, got ${describe(raw)}`);
    return null;
  }
  out.unknownKeys(raw, 'spec.selector', ['matchLabels']);
  const labels = raw['matchLabels'];
  if (labels === undefined || labels === null) return null;
  if (!isMap(labels)) {
    out.add('spec.selector.matchLabels', `expected a mapping of label names to values, got ${describe(labels)}`);
    return null;
  }
  const kept: [string, string][] = [];
  for (const [key, value] of Object.entries(labels)) {
    const path = `spec.selector.matchLabels.${key}`;
    if (typeof value !== 'string') out.add(path, `expected a string, got ${describe(value)}`);
    else if (key.includes('*') || value.includes('*')) out.add(path, 'wildcard is not supported in selector');
    else if (key === SPIFFE_ID_LABEL && !isSpiffeId(value)) out.add(path, `expected a SPIFFE ID (spiffe://<trust domain>/<path>), got "${value}"`);
    else kept.push([key, value]);
  }
  // fromEntries defines own properties: `selector[key] = value` would drop a "__proto__" label and widen the policy
  return kept.length > 0 ? Object.fromEntries(kept) : null;
}

function isSpiffeId(value: string): boolean {
  try {
    SpiffeId.parse(value);
    return true;
  } catch {
    return false;
  }
}

function readRule(raw: unknown, path: string, out: IssueList): Rule {
  const rule: Rule = {};
  if (!isMap(raw)) {
    out.add(path, `expected a rule mapping (use {} to match every request), got ${describe(raw)}`);
    return rule;
  }
  out.unknownKeys(raw, path, ['from', 'to', 'when']);
  const from = readList(raw['from'], `${path}.from`, out, (item, p) => readWrapped(item, p, 'source', SOURCE_FIELDS, out) as Source);
  const to = readList(raw['to'], `${path}.to`, out, (item, p) => readWrapped(item, p, 'operation', OPERATION_FIELDS, out) as Operation);
  const when = readList(raw['when'], `${path}.when`, out, (item, p) => readCondition(item, p, out), { allowEmpty: true });
  if (from) rule.from = from;
  if (to) rule.to = to;
  if (when && when.length > 0) rule.when = when;
  return rule;
}

function readList<T>(raw: unknown, path: string, out: IssueList, item: (v: unknown, p: string) => T, options: { allowEmpty?: boolean } = {}): T[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    out.add(path, `expected a list, got ${describe(raw)}`);
    return undefined;
  }
  if (raw.length === 0 && !options.allowEmpty) {
    out.add(path, 'must not be empty (omit it to match any)');
    return undefined;
  }
  return raw.map((v, i) => item(v, `${path}[${i}]`));
}

/** `{ source: {...} }` / `{ operation: {...} }` with at least one field set. */
function readWrapped(raw: unknown, path: string, wrapper: 'source' | 'operation', fields: readonly string[], out: IssueList): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  if (!isMap(raw)) {
    out.add(path, `expected a mapping with "${wrapper}", got ${describe(raw)}`);
    return result;
  }
  out.unknownKeys(raw, path, [wrapper]);
  const inner = raw[wrapper];
  const innerPath = `${path}.${wrapper}`;
  if (!isMap(inner)) {
    out.add(innerPath, `required: a mapping with at least one of ${fields.join(', ')}, got ${describe(inner)}`);
    return result;
  }
  const before = out.issues.length;
  out.unknownKeys(inner, innerPath, fields);
  for (const name of fields) {
    const values = readStrings(inner[name], `${innerPath}.${name}`, out);
    if (values && values.length > 0) result[name] = values;
  }
  if (Object.keys(result).length === 0 && out.issues.length === before) {
    out.add(innerPath, `must not be empty: set at least one of ${fields.join(', ')}`);
  }
  for (const name of ['ipBlocks', 'notIpBlocks']) checkIpBlocks(result[name], `${innerPath}.${name}`, out);
  for (const name of ['ports', 'notPorts']) checkPorts(result[name], `${innerPath}.${name}`, out);
  for (const name of ['paths', 'notPaths']) checkPaths(result[name], `${innerPath}.${name}`, out);
  return result;
}

/** A list of non-empty strings; numbers get a hint to quote them (the CRD types every value as string). */
function readStrings(raw: unknown, path: string, out: IssueList): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    out.add(path, `expected a list of strings, got ${describe(raw)}`);
    return undefined;
  }
  const values: string[] = [];
  raw.forEach((v, i) => {
    if (typeof v === 'string' && v !== '') values.push(v);
    else if (v === '') out.add(`${path}[${i}]`, 'empty value not allowed');
    else if (typeof v === 'number') out.add(`${path}[${i}]`, `expected a string, got number ${v} (quote it: "${v}")`);
    else out.add(`${path}[${i}]`, `expected a string, got ${describe(v)}`);
  });
  return values;
}

function checkIpBlocks(values: string[] | undefined, path: string, out: IssueList): void {
  values?.forEach((v, i) => {
    if (!parseIpBlock(v)) out.add(`${path}[${i}]`, `bad ${v.includes('/') ? 'CIDR range' : 'IP address'} "${v}"`);
  });
}

function checkPorts(values: string[] | undefined, path: string, out: IssueList): void {
  values?.forEach((v, i) => {
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) out.add(`${path}[${i}]`, `bad port "${v}": expected a number from 0 to 65535`);
  });
}

function checkPaths(values: string[] | undefined, path: string, out: IssueList): void {
  values?.forEach((v, i) => {
    if (v.includes('{*}') || v.includes('{**}')) out.add(`${path}[${i}]`, `path templates ({*}, {**}) are not supported by meshid: "${v}"`);
  });
}

function readCondition(raw: unknown, path: string, out: IssueList): Condition {
  if (!isMap(raw)) {
    out.add(path, `expected a mapping with key and values or notValues, got ${describe(raw)}`);
    return { key: '' };
  }
  out.unknownKeys(raw, path, ['key', 'values', 'notValues']);
  const key = raw['key'];
  if (typeof key !== 'string' || key === '') {
    out.add(`${path}.key`, `required: a non-empty string, got ${describe(key)}`);
    return { key: '' };
  }
  const before = out.issues.length;
  const values = readStrings(raw['values'], `${path}.values`, out);
  const notValues = readStrings(raw['notValues'], `${path}.notValues`, out);
  const condition: Condition = { key };
  if (values && values.length > 0) condition.values = values;
  if (notValues && notValues.length > 0) condition.notValues = notValues;
  if (!condition.values && !condition.notValues) {
    if (out.issues.length === before) out.add(path, `set values or notValues for key ${key}`);
    return condition;
  }
  const problem = conditionKeyProblem(key);
  if (problem) {
    out.add(`${path}.key`, problem);
    return condition;
  }
  const all = [...(condition.values ?? []), ...(condition.notValues ?? [])];
  if (key === 'source.ip' || key === 'destination.ip') checkIpBlocks(all, `${path}.values`, out);
  if (key === 'destination.port') checkPorts(all, `${path}.values`, out);
  return condition;
}

/** Why a `when` key cannot be evaluated, or null when it can. */
function conditionKeyProblem(key: string): string | null {
  if ((CONDITION_KEYS as readonly string[]).includes(key)) return null;
  const unsupported = unsupportedMessage(key);
  if (unsupported) return unsupported;
  if (key.startsWith(HEADER_KEY)) {
    const names = bracketNames(key, HEADER_KEY);
    return names?.length === 1 ? null : `bad key (${key}): should have format request.headers[<name>]`;
  }
  if (key.startsWith(CLAIMS_KEY)) {
    return bracketNames(key, CLAIMS_KEY) ? null : `bad key (${key}): should have format request.auth.claims[<name>] or request.auth.claims[<name>][<nested>]`;
  }
  if (key.startsWith('destination.labels')) return `${key} is not a condition: select workloads by label with spec.selector.matchLabels`;
  if (key.startsWith('experimental.envoy.filters.')) return `experimental attribute ${key} is not supported by meshid`;
  return `unknown attribute: ${key} (supported: ${[...CONDITION_KEYS, `${HEADER_KEY}[<name>]`, `${CLAIMS_KEY}[<name>]`].join(', ')})`;
}
