// Table-driven Istio AuthorizationPolicy semantics: every field and `when` key, every matching form,
// OR within a field / AND across fields, and fail-closed negative fields on unavailable attributes.
import { describe, expect, it } from 'vitest';
import type { PolicyAction, RequestAttributes } from '../../core/policy/model.js';
import { PolicySet } from '../../core/policy/policy-set.js';
import { policy, request } from './policy-fixtures.js';

const WORKLOAD = { namespace: 'prod', labels: { app: 'web' } };

/** A rule as written in YAML (from[].source, to[].operation, when[]). */
type Rule = {
  from?: Array<{ source: Record<string, string[]> }>;
  to?: Array<{ operation: Record<string, string[]> }>;
  when?: Array<{ key: string; values?: string[]; notValues?: string[] }>;
};
const plaintext = { principal: undefined };
const noJwt = { jwtClaims: undefined };

/** Whether a policy of `action` holding only `rule` matches the request. */
function matches(rule: Rule, overrides: Partial<RequestAttributes> = {}, action: PolicyAction = 'ALLOW'): boolean {
  const set = new PolicySet([policy({ action, rules: [rule] })]);
  const decision = set.evaluate(WORKLOAD, request(overrides));
  if (action === 'ALLOW') return decision.allowed;
  if (action === 'DENY') return !decision.allowed;
  return decision.audit.length > 0;
}

type Row = [name: string, rule: Rule, overrides: Partial<RequestAttributes>, expected: boolean];

const src = (source: Record<string, string[]>): Rule => ({ from: [{ source }] });
const op = (operation: Record<string, string[]>): Rule => ({ to: [{ operation }] });
const when = (key: string, values?: string[], notValues?: string[]): Rule => ({
  when: [{ key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) }],
});

describe('source fields', () => {
  it.each<Row>([
    ['principal exact', src({ principals: ['td.example/ns/frontend/sa/web'] }), {}, true],
    ['principal exact, other identity', src({ principals: ['td.example/ns/frontend/sa/other'] }), {}, false],
    ['principal written with the scheme never matches (Istio omits it)', src({ principals: ['spiffe://td.example/ns/frontend/sa/web'] }), {}, false],
    ['principal prefix', src({ principals: ['td.example/ns/frontend/*'] }), {}, true],
    ['principal suffix', src({ principals: ['*/sa/web'] }), {}, true],
    ['principal suffix, no match', src({ principals: ['*/sa/api'] }), {}, false],
    ['principal presence', src({ principals: ['*'] }), {}, true],
    ['principal list is OR', src({ principals: ['td.example/ns/x/sa/y', 'td.example/ns/frontend/sa/web'] }), {}, true],
    ['principal on plaintext', src({ principals: ['*'] }), plaintext, false],
    ['non-SPIFFE peer principal counts as no identity', src({ principals: ['*'] }), { principal: 'web.example.com' }, false],
    ['notPrincipals excludes the peer', src({ notPrincipals: ['td.example/ns/frontend/sa/web'] }), {}, false],
    ['notPrincipals prefix excludes the peer', src({ notPrincipals: ['td.example/*'] }), {}, false],
    ['notPrincipals of someone else', src({ notPrincipals: ['td.example/ns/x/sa/y'] }), {}, true],
    ['namespace exact', src({ namespaces: ['frontend'] }), {}, true],
    ['namespace exact, other', src({ namespaces: ['backend'] }), {}, false],
    ['namespace prefix', src({ namespaces: ['front*'] }), {}, true],
    ['namespace suffix', src({ namespaces: ['*end'] }), {}, true],
    ['namespace presence', src({ namespaces: ['*'] }), {}, true],
    ['namespace of an ID without /ns/', src({ namespaces: ['*'] }), { principal: 'spiffe://td.example/vm/web' }, false],
    ['namespace is the segment after ns, not the service account', src({ namespaces: ['web'] }), {}, false],
    ['namespace on plaintext', src({ namespaces: ['frontend'] }), plaintext, false],
    ['notNamespaces excludes the peer namespace', src({ notNamespaces: ['frontend'] }), {}, false],
    ['notNamespaces of another namespace', src({ notNamespaces: ['backend'] }), {}, true],
    ['notNamespaces for an identity without a namespace', src({ notNamespaces: ['backend'] }), { principal: 'spiffe://td.example/vm/web' }, true],
    ['ipBlocks single address', src({ ipBlocks: ['10.1.2.3'] }), {}, true],
    ['ipBlocks CIDR', src({ ipBlocks: ['10.1.0.0/16'] }), {}, true],
    ['ipBlocks CIDR with host bits', src({ ipBlocks: ['10.1.9.9/16'] }), {}, true],
    ['ipBlocks other CIDR', src({ ipBlocks: ['10.2.0.0/16'] }), {}, false],
    ['ipBlocks list is OR', src({ ipBlocks: ['192.168.0.0/16', '10.0.0.0/8'] }), {}, true],
    ['ipBlocks IPv6 CIDR', src({ ipBlocks: ['2001:db8::/32'] }), { sourceIp: '2001:db8:0:1::5' }, true],
    ['ipBlocks IPv6 outside', src({ ipBlocks: ['2001:db8::/32'] }), { sourceIp: '2001:db9::5' }, false],
    ['ipBlocks IPv4 block matches an IPv4-mapped source', src({ ipBlocks: ['10.0.0.0/8'] }), { sourceIp: '::ffff:10.1.2.3' }, true],
    ['ipBlocks IPv6 block does not match IPv4', src({ ipBlocks: ['2001:db8::/32'] }), {}, false],
    ['ipBlocks without a source address', src({ ipBlocks: ['0.0.0.0/0'] }), { sourceIp: undefined }, false],
    ['notIpBlocks excludes the source', src({ notIpBlocks: ['10.0.0.0/8'] }), {}, false],
    ['notIpBlocks of another range', src({ notIpBlocks: ['192.168.0.0/16'] }), {}, true],
    ['requestPrincipals exact iss/sub', src({ requestPrincipals: ['https://issuer.example/alice'] }), {}, true],
    ['requestPrincipals other subject', src({ requestPrincipals: ['https://issuer.example/bob'] }), {}, false],
    ['requestPrincipals issuer with any subject', src({ requestPrincipals: ['https://issuer.example/*'] }), {}, true],
    ['requestPrincipals any issuer, exact subject', src({ requestPrincipals: ['*/alice'] }), {}, true],
    ['requestPrincipals subject suffix', src({ requestPrincipals: ['*ice'] }), {}, true],
    ['requestPrincipals subject prefix under an exact issuer', src({ requestPrincipals: ['https://issuer.example/al*'] }), {}, true],
    ['requestPrincipals issuer prefix (no slash in the pattern)', src({ requestPrincipals: ['issuer-*'] }), { jwtClaims: { iss: 'issuer-a', sub: 'bob' } }, true],
    ['requestPrincipals presence', src({ requestPrincipals: ['*'] }), {}, true],
    ['requestPrincipals without a JWT', src({ requestPrincipals: ['*'] }), noJwt, false],
    ['notRequestPrincipals excludes the caller', src({ notRequestPrincipals: ['https://issuer.example/alice'] }), {}, false],
    ['fields of one source are AND', src({ principals: ['td.example/ns/frontend/sa/web'], ipBlocks: ['192.168.0.0/16'] }), {}, false],
    ['values and notValues of one field', src({ principals: ['td.example/*'], notPrincipals: ['*/sa/web'] }), {}, false],
  ])('%s', (_name, rule, overrides, expected) => {
    expect(matches(rule, overrides)).toBe(expected);
  });

  it('the from list is OR', () => {
    expect(matches({ from: [{ source: { principals: ['nobody'] } }, { source: { namespaces: ['frontend'] } }] })).toBe(true);
    expect(matches({ from: [{ source: { principals: ['nobody'] } }, { source: { namespaces: ['backend'] } }] })).toBe(false);
  });
});

describe('operation fields', () => {
  it.each<Row>([
    ['host exact', op({ hosts: ['shop.example.com'] }), {}, true],
    ['host is case-insensitive (policy side)', op({ hosts: ['SHOP.Example.com'] }), {}, true],
    ['host is case-insensitive (request side)', op({ hosts: ['shop.example.com'] }), { host: 'Shop.EXAMPLE.com' }, true],
    ['host prefix', op({ hosts: ['shop.*'] }), {}, true],
    ['host suffix', op({ hosts: ['*.example.com'] }), {}, true],
    ['host presence', op({ hosts: ['*'] }), {}, true],
    ['host other', op({ hosts: ['admin.example.com'] }), {}, false],
    ['host without port matches a request with a port', op({ hosts: ['shop.example.com'] }), { host: 'shop.example.com:8443' }, true],
    ['host with port matches that port', op({ hosts: ['shop.example.com:8443'] }), { host: 'shop.example.com:8443' }, true],
    ['host with port does not match another port', op({ hosts: ['shop.example.com:9000'] }), { host: 'shop.example.com:8443' }, false],
    ['host with port does not match a request without', op({ hosts: ['shop.example.com:8443'] }), {}, false],
    ['host:* form still works', op({ hosts: ['shop.example.com:*'] }), { host: 'shop.example.com:8443' }, true],
    ['IPv6 literal host with port', op({ hosts: ['[::1]'] }), { host: '[::1]:8080' }, true],
    ['host unavailable', op({ hosts: ['*'] }), { host: undefined }, false],
    ['notHosts excludes the host, with or without port', op({ notHosts: ['shop.example.com'] }), { host: 'SHOP.example.com:80' }, false],
    ['notHosts of another host', op({ notHosts: ['admin.example.com'] }), {}, true],
    ['method exact', op({ methods: ['GET'] }), {}, true],
    ['method other', op({ methods: ['POST'] }), {}, false],
    ['method is case-sensitive', op({ methods: ['get'] }), {}, false],
    ['method prefix', op({ methods: ['G*'] }), {}, true],
    ['method list is OR', op({ methods: ['POST', 'GET'] }), {}, true],
    ['notMethods excludes', op({ notMethods: ['GET'] }), {}, false],
    ['notMethods of another', op({ notMethods: ['DELETE'] }), {}, true],
    ['path exact ignores the query', op({ paths: ['/api/items'] }), {}, true],
    ['path exact ignores a fragment', op({ paths: ['/api/items'] }), { path: '/api/items#top' }, true],
    ['path exact is not a prefix', op({ paths: ['/api'] }), {}, false],
    ['path prefix', op({ paths: ['/api/*'] }), {}, true],
    ['path suffix', op({ paths: ['*/items'] }), {}, true],
    ['path suffix does not see the query', op({ paths: ['*limit=5'] }), {}, false],
    ['path presence', op({ paths: ['*'] }), {}, true],
    ['path is case-sensitive', op({ paths: ['/API/items'] }), {}, false],
    ['notPaths excludes', op({ notPaths: ['/api/*'] }), {}, false],
    ['notPaths of another', op({ notPaths: ['/admin*'] }), {}, true],
    ['port', op({ ports: ['8080'] }), {}, true],
    ['port other', op({ ports: ['9090'] }), {}, false],
    ['port list is OR', op({ ports: ['9090', '8080'] }), {}, true],
    ['port unavailable (Unix socket listener)', op({ ports: ['8080'] }), { destinationPort: undefined }, false],
    ['notPorts excludes', op({ notPorts: ['8080'] }), {}, false],
    ['notPorts of another', op({ notPorts: ['9090'] }), {}, true],
    ['fields of one operation are AND', op({ methods: ['GET'], paths: ['/admin'] }), {}, false],
    ['all fields of one operation matching', op({ hosts: ['shop.example.com'], methods: ['GET'], paths: ['/api/*'], ports: ['8080'] }), {}, true],
    ['values and notValues of one field', op({ paths: ['/api/*'], notPaths: ['/api/items'] }), {}, false],
  ])('%s', (_name, rule, overrides, expected) => {
    expect(matches(rule, overrides)).toBe(expected);
  });

  it('the to list is OR', () => {
    expect(matches({ to: [{ operation: { methods: ['POST'] } }, { operation: { paths: ['/api/*'] } }] })).toBe(true);
    expect(matches({ to: [{ operation: { methods: ['POST'] } }, { operation: { paths: ['/admin'] } }] })).toBe(false);
  });
});

describe('when conditions', () => {
  it.each<Row>([
    ['header value', when('request.headers[x-team]', ['blue']), {}, true],
    ['header name is case-insensitive', when('request.headers[X-Team]', ['blue']), {}, true],
    ['header value is case-sensitive', when('request.headers[x-team]', ['Blue']), {}, false],
    ['header prefix', when('request.headers[x-team]', ['bl*']), {}, true],
    ['header suffix', when('request.headers[x-team]', ['*ue']), {}, true],
    ['header presence', when('request.headers[x-team]', ['*']), {}, true],
    ['header presence, header absent', when('request.headers[x-other]', ['*']), {}, false],
    ['header notValues', when('request.headers[x-team]', undefined, ['blue']), {}, false],
    ['header notValues, header absent (the client chose: Istio semantics)', when('request.headers[x-other]', undefined, ['red']), {}, true],
    ['header values and notValues', when('request.headers[x-team]', ['b*'], ['blue']), {}, false],
    ['source.ip', when('source.ip', ['10.1.0.0/16']), {}, true],
    ['source.ip other', when('source.ip', ['10.2.0.0/16']), {}, false],
    ['source.ip notValues', when('source.ip', undefined, ['10.1.2.3']), {}, false],
    ['source.namespace', when('source.namespace', ['frontend']), {}, true],
    ['source.namespace prefix', when('source.namespace', ['fr*']), {}, true],
    ['source.namespace on plaintext', when('source.namespace', ['*']), plaintext, false],
    ['source.principal', when('source.principal', ['td.example/ns/frontend/sa/web']), {}, true],
    ['source.principal notValues', when('source.principal', undefined, ['td.example/ns/frontend/*']), {}, false],
    ['destination.port', when('destination.port', ['8080']), {}, true],
    ['destination.port other', when('destination.port', ['80']), {}, false],
    ['destination.ip', when('destination.ip', ['10.0.0.0/24']), {}, true],
    ['destination.ip other', when('destination.ip', ['10.0.1.0/24']), {}, false],
    ['request.auth.principal', when('request.auth.principal', ['https://issuer.example/alice']), {}, true],
    ['request.auth.principal without JWT', when('request.auth.principal', ['*']), noJwt, false],
    ['request.auth.audiences (list claim)', when('request.auth.audiences', ['web']), {}, true],
    ['request.auth.audiences (string claim)', when('request.auth.audiences', ['api']), { jwtClaims: { aud: 'api' } }, true],
    ['request.auth.audiences other', when('request.auth.audiences', ['admin']), {}, false],
    ['request.auth.presenter', when('request.auth.presenter', ['client-*']), {}, true],
    ['claim in a list', when('request.auth.claims[groups]', ['admins']), {}, true],
    ['claim not in the list', when('request.auth.claims[groups]', ['ops']), {}, false],
    ['nested claim', when('request.auth.claims[org][team]', ['core']), {}, true],
    ['nested claim other', when('request.auth.claims[org][team]', ['edge']), {}, false],
    ['missing claim', when('request.auth.claims[missing]', ['*']), {}, false],
    ['non-string claim holds no strings', when('request.auth.claims[org]', ['*']), {}, false],
    ['claim notValues, claim missing from the JWT', when('request.auth.claims[missing]', undefined, ['x']), {}, true],
    ['claim notValues excludes', when('request.auth.claims[groups]', undefined, ['admins']), {}, false],
    ['claim without JWT', when('request.auth.claims[groups]', ['*']), noJwt, false],
  ])('%s', (_name, rule, overrides, expected) => {
    expect(matches(rule, overrides)).toBe(expected);
  });

  it('conditions are AND', () => {
    expect(matches({ when: [{ key: 'source.namespace', values: ['frontend'] }, { key: 'destination.port', values: ['8080'] }] })).toBe(true);
    expect(matches({ when: [{ key: 'source.namespace', values: ['frontend'] }, { key: 'destination.port', values: ['80'] }] })).toBe(false);
  });

  it('from, to and when are AND', () => {
    const rule = (ns: string, path: string, port: string): Rule => ({
      from: [{ source: { namespaces: [ns] } }],
      to: [{ operation: { paths: [path] } }],
      when: [{ key: 'destination.port', values: [port] }],
    });
    expect(matches(rule('frontend', '/api/*', '8080'))).toBe(true);
    expect(matches(rule('backend', '/api/*', '8080'))).toBe(false);
    expect(matches(rule('frontend', '/admin', '8080'))).toBe(false);
    expect(matches(rule('frontend', '/api/*', '80'))).toBe(false);
  });
});

describe('negative fields on unavailable attributes fail closed', () => {
  // [field rule, what makes the attribute unavailable]
  const cases: Array<[string, Rule, Partial<RequestAttributes>]> = [
    ['notPrincipals on plaintext', src({ notPrincipals: ['td.example/ns/evil/sa/x'] }), plaintext],
    ['notNamespaces on plaintext', src({ notNamespaces: ['evil'] }), plaintext],
    ['source.principal notValues on plaintext', when('source.principal', undefined, ['td.example/ns/evil/sa/x']), plaintext],
    ['source.namespace notValues on plaintext', when('source.namespace', undefined, ['evil']), plaintext],
    ['notIpBlocks without a source IP', src({ notIpBlocks: ['192.168.0.0/16'] }), { sourceIp: undefined }],
    ['notPorts without a destination port', op({ notPorts: ['9090'] }), { destinationPort: undefined }],
    ['notHosts without a host', op({ notHosts: ['admin.example.com'] }), { host: undefined }],
    ['notRequestPrincipals without a JWT', src({ notRequestPrincipals: ['https://evil/*'] }), noJwt],
    ['claim notValues without a JWT', when('request.auth.claims[groups]', undefined, ['banned']), noJwt],
  ];

  it.each(cases)('%s: an ALLOW policy does not allow', (_name, rule, overrides) => {
    expect(matches(rule, overrides, 'ALLOW')).toBe(false);
    expect(matches(rule, {}, 'ALLOW')).toBe(true); // with the attribute available the rule does match
  });

  it.each(cases)('%s: a DENY policy denies', (_name, rule, overrides) => {
    expect(matches(rule, overrides, 'DENY')).toBe(true);
  });

  it.each(cases)('%s: an AUDIT policy audits', (_name, rule, overrides) => {
    expect(matches(rule, overrides, 'AUDIT')).toBe(true);
  });

  it('positive fields on unavailable attributes never match, whatever the action', () => {
    for (const action of ['ALLOW', 'DENY', 'AUDIT'] as const) {
      expect(matches(src({ principals: ['*'] }), plaintext, action)).toBe(false);
      expect(matches(src({ namespaces: ['*'] }), plaintext, action)).toBe(false);
      expect(matches(op({ ports: ['8080'] }), { destinationPort: undefined }, action)).toBe(false);
    }
  });
});

describe('actions and evaluation order', () => {
  const allowAll = policy({ action: 'ALLOW', rules: [{}] }, { name: 'allow-all' });
  const allowFrontend = policy({ rules: [{ from: [{ source: { namespaces: ['frontend'] } }] }] }, { name: 'allow-frontend' });
  const allowBackend = policy({ rules: [{ from: [{ source: { namespaces: ['backend'] } }] }] }, { name: 'allow-backend' });
  const denyAll = policy({ action: 'DENY', rules: [{}] }, { name: 'deny-all' });
  const denyPost = policy({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] }, { name: 'deny-post' });
  const auditAll = policy({ action: 'AUDIT', rules: [{}] }, { name: 'audit-all' });
  const evaluate = (policies: ReturnType<typeof policy>[], overrides: Partial<RequestAttributes> = {}) =>
    new PolicySet(policies).evaluate(WORKLOAD, request(overrides));

  it('no policy: allowed', () => {
    expect(evaluate([])).toEqual({ allowed: true, action: null, policy: null, ruleIndex: null, reason: 'allowed: no ALLOW policy applies', audit: [] });
  });

  it('a DENY policy that does not match leaves the request allowed', () => {
    expect(evaluate([denyPost])).toMatchObject({ allowed: true, action: null });
  });

  it('a matching DENY wins over a matching ALLOW', () => {
    expect(evaluate([allowAll, denyPost], { method: 'POST' })).toMatchObject({
      allowed: false,
      action: 'DENY',
      policy: 'prod/deny-post',
      ruleIndex: 0,
      reason: 'denied by prod/deny-post rule 0',
    });
  });

  it('with an ALLOW policy, a request it does not match is denied', () => {
    expect(evaluate([allowBackend])).toMatchObject({ allowed: false, action: null, policy: null, reason: 'denied: no ALLOW policy matched' });
  });

  it('any matching ALLOW allows', () => {
    expect(evaluate([allowBackend, allowFrontend])).toMatchObject({ allowed: true, action: 'ALLOW', policy: 'prod/allow-frontend', reason: 'allowed by prod/allow-frontend rule 0' });
  });

  it('reports the index of the rule that matched', () => {
    const p = policy({ rules: [{ to: [{ operation: { methods: ['PUT'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }] });
    expect(evaluate([p])).toMatchObject({ allowed: true, ruleIndex: 1 });
  });

  it('an ALLOW policy without rules matches nothing, so it denies everything in scope', () => {
    expect(evaluate([policy({})])).toMatchObject({ allowed: false, reason: 'denied: no ALLOW policy matched' });
    expect(evaluate([policy({ rules: [] })])).toMatchObject({ allowed: false });
  });

  it('`rules: [{}]` matches every request', () => {
    expect(evaluate([allowAll], { ...plaintext, sourceIp: undefined, host: undefined, jwtClaims: undefined })).toMatchObject({ allowed: true, policy: 'prod/allow-all' });
    expect(evaluate([denyAll], plaintext)).toMatchObject({ allowed: false, policy: 'prod/deny-all' });
  });

  it('AUDIT is reported and never changes the decision', () => {
    expect(evaluate([auditAll])).toMatchObject({ allowed: true, action: null, audit: [{ policy: 'prod/audit-all', ruleIndex: 0 }] });
    expect(evaluate([auditAll, denyAll])).toMatchObject({ allowed: false, policy: 'prod/deny-all', audit: [{ policy: 'prod/audit-all', ruleIndex: 0 }] });
    expect(evaluate([auditAll, allowBackend])).toMatchObject({ allowed: false, audit: [{ policy: 'prod/audit-all' }] });
  });

  it('an AUDIT policy is not an ALLOW policy, and one without rules audits nothing', () => {
    expect(evaluate([policy({ action: 'AUDIT' })])).toMatchObject({ allowed: true, audit: [] });
  });

  it('reports the first matching DENY by namespace/name', () => {
    const a = policy({ action: 'DENY', rules: [{}] }, { name: 'a-deny' });
    const z = policy({ action: 'DENY', rules: [{}] }, { name: 'z-deny' });
    expect(evaluate([z, a])).toMatchObject({ policy: 'prod/a-deny' });
  });
});

describe('which policies apply to a workload', () => {
  const denyAll = (namespace: string, selector?: Record<string, string>) =>
    policy({ action: 'DENY', rules: [{}], ...(selector ? { selector: { matchLabels: selector } } : {}) }, { namespace, name: 'deny' });
  const allowed = (set: PolicySet, workload: { namespace?: string; labels: Record<string, string>; spiffeId?: string }) =>
    set.evaluate(workload, request()).allowed;

  it('a namespace policy applies to its namespace only', () => {
    const set = new PolicySet([denyAll('prod')]);
    expect(allowed(set, { namespace: 'prod', labels: {} })).toBe(false);
    expect(allowed(set, { namespace: 'staging', labels: {} })).toBe(true);
  });

  it('a root-namespace policy applies mesh-wide', () => {
    const set = new PolicySet([denyAll('istio-system')]);
    expect(allowed(set, { namespace: 'prod', labels: {} })).toBe(false);
    expect(allowed(set, { namespace: 'staging', labels: {} })).toBe(false);
  });

  it('the root namespace is configurable', () => {
    const set = new PolicySet([denyAll('mesh-root'), policy({ rules: [{}] }, { namespace: 'istio-system', name: 'x' })], { rootNamespace: 'mesh-root' });
    expect(allowed(set, { namespace: 'prod', labels: {} })).toBe(false);
    expect(set.applicableTo({ namespace: 'prod', labels: {} }).allow.size).toBe(0);
  });

  it('matchLabels must all be present with equal values', () => {
    const set = new PolicySet([denyAll('prod', { app: 'web', tier: 'front' })]);
    expect(allowed(set, { namespace: 'prod', labels: { app: 'web', tier: 'front', version: 'v2' } })).toBe(false);
    expect(allowed(set, { namespace: 'prod', labels: { app: 'web' } })).toBe(true);
    expect(allowed(set, { namespace: 'prod', labels: { app: 'web', tier: 'back' } })).toBe(true);
  });

  it('a root-namespace policy with a selector applies to matching workloads in every namespace', () => {
    const set = new PolicySet([denyAll('istio-system', { app: 'web' })]);
    expect(allowed(set, { namespace: 'prod', labels: { app: 'web' } })).toBe(false);
    expect(allowed(set, { namespace: 'staging', labels: { app: 'api' } })).toBe(true);
  });

  it('the meshid.dev/spiffe-id selector names a workload by SPIFFE ID; its namespace comes from the ID', () => {
    const vm = 'spiffe://td.example/ns/prod/sa/billing';
    const set = new PolicySet([denyAll('prod', { 'meshid.dev/spiffe-id': vm })]);
    expect(allowed(set, { spiffeId: vm, labels: {} })).toBe(false);
    expect(allowed(set, { spiffeId: 'spiffe://td.example/ns/prod/sa/other', labels: {} })).toBe(true);
  });

  it('a workload whose ID names no namespace gets the root-namespace policies only', () => {
    const vm = 'spiffe://td.example/vm/billing';
    const set = new PolicySet([denyAll('istio-system', { 'meshid.dev/spiffe-id': vm }), policy({}, { namespace: 'prod', name: 'allow-none' })]);
    const applicable = set.applicableTo({ spiffeId: vm, labels: {} });
    expect(applicable.deny.policies.map((p) => p.id)).toEqual(['istio-system/deny']);
    expect(applicable.allow.size).toBe(0);
  });

  it('duplicate namespace/name is rejected', () => {
    expect(() => new PolicySet([denyAll('prod'), denyAll('prod')])).toThrow(/prod\/deny: metadata.name: duplicate policy/);
  });
});

describe('principal-keyed policies (the per-workload index)', () => {
  const web = 'td.example/ns/frontend/sa/web';
  const evaluate = (policies: ReturnType<typeof policy>[], overrides: Partial<RequestAttributes> = {}) =>
    new PolicySet(policies).evaluate(WORKLOAD, request(overrides));
  const allowFrom = (name: string, ...principals: string[]) => policy({ rules: [{ from: [{ source: { principals } }] }] }, { name });

  it('finds the policy keyed by the caller among many', () => {
    const many = Array.from({ length: 200 }, (_, i) => allowFrom(`allow-${String(i).padStart(3, '0')}`, `td.example/ns/x/sa/client-${i}`));
    expect(evaluate([...many, allowFrom('allow-web', web)])).toMatchObject({ allowed: true, policy: 'prod/allow-web' });
    expect(evaluate(many)).toMatchObject({ allowed: false, reason: 'denied: no ALLOW policy matched' });
    expect(evaluate([...many, allowFrom('allow-web', web)], plaintext)).toMatchObject({ allowed: false });
  });

  it('keeps namespace/name order across keyed and unkeyed policies', () => {
    const keyedA = policy({ action: 'DENY', rules: [{ from: [{ source: { principals: [web] } }] }] }, { name: 'a' });
    const unkeyedB = policy({ action: 'DENY', rules: [{}] }, { name: 'b' });
    const keyedC = policy({ action: 'DENY', rules: [{ from: [{ source: { principals: [web] } }] }] }, { name: 'c' });
    expect(evaluate([unkeyedB, keyedA])).toMatchObject({ policy: 'prod/a' });
    expect(evaluate([keyedC, unkeyedB])).toMatchObject({ policy: 'prod/b' });
    const auditKeyed = policy({ action: 'AUDIT', rules: [{ from: [{ source: { principals: [web] } }] }] }, { name: 'a-audit' });
    const auditAll = policy({ action: 'AUDIT', rules: [{}] }, { name: 'b-audit' });
    expect(evaluate([auditAll, auditKeyed]).audit.map((m) => m.policy)).toEqual(['prod/a-audit', 'prod/b-audit']);
  });

  it('does not key a policy that some rule or source leaves open', () => {
    const openSource = policy({ rules: [{ from: [{ source: { principals: ['td.example/ns/x/sa/y'] } }, { source: { namespaces: ['frontend'] } }] }] });
    expect(evaluate([openSource])).toMatchObject({ allowed: true });
    const openRule = policy({ rules: [{ from: [{ source: { principals: ['td.example/ns/x/sa/y'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }] });
    expect(evaluate([openRule])).toMatchObject({ allowed: true, ruleIndex: 1 });
    expect(evaluate([allowFrom('wild', 'td.example/ns/frontend/*')])).toMatchObject({ allowed: true });
    expect(evaluate([policy({ rules: [{ from: [{ source: { principals: [web], notNamespaces: ['frontend'] } }] }] })])).toMatchObject({ allowed: false });
  });
});
