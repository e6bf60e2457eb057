// Policy YAML validation: every issue names the file, the policy and the field path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicyFiles, parsePolicyYaml } from '../../core/policy/load.js';
import { formatIssue, PolicyValidationError } from '../../core/policy/validate.js';

const header = (name = 'deny-foo', namespace = 'default') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n`;

/** The formatted issues for a YAML text (expects at least one). */
function issues(yaml: string): string[] {
  const parsed = parsePolicyYaml(yaml, 'policies.yaml');
  expect(parsed.issues.length).toBeGreaterThan(0);
  return parsed.issues.map(formatIssue);
}

describe('policy validation messages', () => {
  it.each<[string, string, string]>([
    [
      'a field of the wrong type',
      'spec:\n  action: DENY\n  rules:\n  - to:\n    - operation:\n        methods: GET\n',
      'policies.yaml: default/deny-foo: spec.rules[0].to[0].operation.methods: expected a list of strings, got string "GET"',
    ],
    [
      'an unknown field',
      'spec:\n  rules:\n  - to:\n    - operation:\n        method: [GET]\n',
      'policies.yaml: default/deny-foo: spec.rules[0].to[0].operation.method: unknown field (expected hosts, notHosts, methods, notMethods, paths, notPaths, ports, notPorts)',
    ],
    ['an unknown spec field', 'spec:\n  selectr: {}\n', 'policies.yaml: default/deny-foo: spec.selectr: unknown field (expected selector, action, rules)'],
    ['an unknown action', 'spec:\n  action: REJECT\n', 'policies.yaml: default/deny-foo: spec.action: expected one of ALLOW, DENY, AUDIT, got string "REJECT"'],
    ['CUSTOM', 'spec:\n  action: CUSTOM\n  provider:\n    name: opa\n  rules: [{}]\n', 'policies.yaml: default/deny-foo: spec.action: the CUSTOM action (external authorizers) is not supported by meshid'],
    ['DENY without rules', 'spec:\n  action: DENY\n', 'policies.yaml: default/deny-foo: spec.rules: a DENY policy without rules never denies anything; use `rules: [{}]` to deny every request'],
    ['an empty from list', 'spec:\n  rules:\n  - from: []\n', 'policies.yaml: default/deny-foo: spec.rules[0].from: must not be empty (omit it to match any)'],
    ['a from entry without source', 'spec:\n  rules:\n  - from:\n    - {}\n', 'policies.yaml: default/deny-foo: spec.rules[0].from[0].source: required: a mapping with at least one of principals'],
    ['an empty source', 'spec:\n  rules:\n  - from:\n    - source: {}\n', 'policies.yaml: default/deny-foo: spec.rules[0].from[0].source: must not be empty: set at least one of principals'],
    ['a source of empty lists', 'spec:\n  rules:\n  - from:\n    - source:\n        principals: []\n', 'spec.rules[0].from[0].source: must not be empty'],
    ['an empty operation', 'spec:\n  rules:\n  - to:\n    - operation: {}\n', 'spec.rules[0].to[0].operation: must not be empty: set at least one of hosts'],
    ['an empty string value', 'spec:\n  rules:\n  - from:\n    - source:\n        principals: [""]\n', 'spec.rules[0].from[0].source.principals[0]: empty value not allowed'],
    ['a bad CIDR', 'spec:\n  rules:\n  - from:\n    - source:\n        ipBlocks: [10.0.0.0/33]\n', 'spec.rules[0].from[0].source.ipBlocks[0]: bad CIDR range "10.0.0.0/33"'],
    ['a bad IP', 'spec:\n  rules:\n  - from:\n    - source:\n        notIpBlocks: [10.0.0.256]\n', 'spec.rules[0].from[0].source.notIpBlocks[0]: bad IP address "10.0.0.256"'],
    ['an unquoted port', 'spec:\n  rules:\n  - to:\n    - operation:\n        ports: [8080]\n', 'spec.rules[0].to[0].operation.ports[0]: expected a string, got number 8080 (quote it: "8080")'],
    ['a bad port', 'spec:\n  rules:\n  - to:\n    - operation:\n        notPorts: ["70000"]\n', 'spec.rules[0].to[0].operation.notPorts[0]: bad port "70000": expected a number from 0 to 65535'],
    ['a path template', 'spec:\n  rules:\n  - to:\n    - operation:\n        paths: ["/v1/{*}/x"]\n', 'spec.rules[0].to[0].operation.paths[0]: path templates ({*}, {**}) are not supported by meshid'],
    ['remoteIpBlocks', 'spec:\n  rules:\n  - from:\n    - source:\n        remoteIpBlocks: [1.2.3.4]\n', 'spec.rules[0].from[0].source.remoteIpBlocks: remoteIpBlocks (X-Forwarded-For based) is not supported by meshid'],
    ['an unknown when key', 'spec:\n  rules:\n  - when:\n    - key: source.user\n      values: [x]\n', 'spec.rules[0].when[0].key: unknown attribute: source.user (supported: source.ip'],
    ['an unsupported when key', 'spec:\n  rules:\n  - when:\n    - key: remote.ip\n      values: [1.2.3.4]\n', 'spec.rules[0].when[0].key: remote.ip (X-Forwarded-For based) is not supported by meshid; use source.ip'],
    ['destination.labels', 'spec:\n  rules:\n  - when:\n    - key: destination.labels[app]\n      values: [x]\n', 'spec.rules[0].when[0].key: destination.labels[app] is not a condition: select workloads by label with spec.selector.matchLabels'],
    ['a malformed header key', 'spec:\n  rules:\n  - when:\n    - key: request.headers\n      values: [x]\n', 'spec.rules[0].when[0].key: bad key (request.headers): should have format request.headers[<name>]'],
    ['a when without values', 'spec:\n  rules:\n  - when:\n    - key: source.ip\n', 'spec.rules[0].when[0]: set values or notValues for key source.ip'],
    ['a bad source.ip value', 'spec:\n  rules:\n  - when:\n    - key: source.ip\n      notValues: [nope]\n', 'spec.rules[0].when[0].values[0]: bad IP address "nope"'],
    ['a bad destination.port value', 'spec:\n  rules:\n  - when:\n    - key: destination.port\n      values: [http]\n', 'spec.rules[0].when[0].values[0]: bad port "http"'],
    ['a null rule', 'spec:\n  rules:\n  - null\n', 'spec.rules[0]: expected a rule mapping (use {} to match every request), got null'],
    ['a selector wildcard', 'spec:\n  selector:\n    matchLabels:\n      app: "*"\n', 'spec.selector.matchLabels.app: wildcard is not supported in selector'],
    ['a bad SPIFFE ID selector', 'spec:\n  selector:\n    matchLabels:\n      meshid.dev/spiffe-id: billing\n', 'spec.selector.matchLabels.meshid.dev/spiffe-id: expected a SPIFFE ID (spiffe://<trust domain>/<path>), got "billing"'],
    ['targetRefs', 'spec:\n  targetRefs:\n  - kind: Gateway\n    name: gw\n', 'spec.targetRefs: targetRefs (Gateway API attachment) is not supported by meshid; use selector'],
  ])('%s', (_name, spec, expected) => {
    expect(issues(header() + spec).join('\n')).toContain(expected);
  });

  it('names the missing metadata, with the document number standing in for the policy', () => {
    const text = `${header('ok')}spec: {}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: Bad_Name\nspec: {}\n`;
    expect(issues(text)).toEqual([
      'policies.yaml: document 2: metadata.name: required: a lower-case DNS name, got string "Bad_Name"',
      'policies.yaml: document 2: metadata.namespace: required: a lower-case DNS label (policies in the root namespace apply mesh-wide), got nothing',
    ]);
  });

  it('rejects the wrong kind and apiVersion, and dry-run policies', () => {
    const text = 'apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: x\n  namespace: y\n  annotations:\n    istio.io/dry-run: "true"\n';
    expect(issues(text)).toEqual([
      'policies.yaml: y/x: metadata.annotations.istio.io/dry-run: dry-run policies are not supported by meshid; use action AUDIT to observe without enforcing',
      'policies.yaml: y/x: apiVersion: expected security.istio.io/v1 or security.istio.io/v1beta1, got string "networking.istio.io/v1"',
      'policies.yaml: y/x: kind: expected AuthorizationPolicy, got string "PeerAuthentication"',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(issues(`${header()}spec:\n  rules: [\n`)[0]).toMatch(/^policies\.yaml: line \d+, column \d+: invalid YAML: /);
  });

  it('reports every issue of a policy, not just the first', () => {
    const text = `${header()}spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        principals: 7\n    to:\n    - operation:\n        hosts: [""]\n`;
    expect(issues(text)).toEqual([
      'policies.yaml: default/deny-foo: spec.rules[0].from[0].source.principals: expected a list of strings, got number 7',
      'policies.yaml: default/deny-foo: spec.rules[0].to[0].operation.hosts[0]: empty value not allowed',
    ]);
  });
});

describe('policy YAML loading', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-policy-yaml-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every document, skips empty ones and expands a kind: List', () => {
    const text = `---\n${header('a')}spec: {}\n---\n# nothing here\n---\napiVersion: v1\nkind: List\nitems:\n- ${header('b').trimEnd().replace(/\n/g, '\n  ')}\n  spec:\n    action: AUDIT\n    rules: [{}]\n`;
    const parsed = parsePolicyYaml(text, 'all.yaml');
    expect(parsed.issues).toEqual([]);
    expect(parsed.policies.map((p) => [p.namespace, p.name, p.action, p.origin])).toEqual([
      ['default', 'a', 'ALLOW', 'all.yaml'],
      ['default', 'b', 'AUDIT', 'all.yaml'],
    ]);
  });

  it('keeps Istio v1beta1 policies and Kubernetes metadata as they come from the API server', () => {
    const text = header('x').replace('v1\n', 'v1beta1\n') + '  uid: 1234\n  resourceVersion: "42"\n  labels: {a: b}\nspec:\n  rules: [{}]\nstatus: {}\n';
    expect(parsePolicyYaml(text, 'x.yaml')).toMatchObject({ issues: [], policies: [{ name: 'x', rules: [{}] }] });
  });

  it('loads files and directories, and reports all files’ issues together', async () => {
    mkdtempSync(path.join(dir, 'sub-'));
    writeFileSync(path.join(dir, 'good.yaml'), `${header('good')}spec: {}\n`);
    writeFileSync(path.join(dir, 'ignored.txt'), 'not yaml: [');
    const other = path.join(dir, 'other.yml');
    writeFileSync(other, `${header('other', 'prod')}spec: {}\n`);
    expect((await loadPolicyFiles([dir])).map((p) => p.name).sort()).toEqual(['good', 'other']);

    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, `${header('bad')}spec:\n  action: NOPE\n`);
    const err = await loadPolicyFiles([dir, path.join(dir, 'missing.yaml')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyValidationError);
    expect((err as PolicyValidationError).message.split('\n')).toEqual([
      `${bad}: default/bad: spec.action: expected one of ALLOW, DENY, AUDIT, got string "NOPE"`,
      `${path.join(dir, 'missing.yaml')}: cannot read: ENOENT`,
    ]);
  });
});
