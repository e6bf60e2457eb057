/**
 * Inputs for the policy target: raw objects (anything JSON or YAML can decode to, valid policies with
 * structural mutations), valid-by-construction policies from the AuthorizationPolicy grammar, and
 * requests with every attribute free, including names JavaScript objects already carry (constructor,
 * __proto__, toString), which is where attacker-chosen keys meet plain-object lookups.
 */
import fc from 'fast-check';
import { SPIFFE_ID_LABEL, type RequestAttributes, type WorkloadRef } from '../../core/policy/model.js';
import { characters, edits, mutateText, type Edit } from './mutate.js';

/** A dictionary whose keys may be prototype names, created as own properties. */
const dictionary = <T>(key: fc.Arbitrary<string>, value: fc.Arbitrary<T>) =>
  fc.array(fc.tuple(key, value), { maxLength: 4 }).map((pairs) => Object.fromEntries(pairs) as Record<string, T>);

/** Names inherited by every plain object: a lookup by an attacker-chosen key may find these. */
export const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

const word = fc.constantFrom('a', 'web', 'prod', 'frontend', 'x-team', 'blue', 'alice', 'GET', '/api', 'td.example', ...PROTOTYPE_NAMES);
// any non-empty text except path templates, which validation refuses
const text = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('{*}') && !s.includes('{**}'));
const pattern = fc.oneof(word, word.map((w) => `${w}*`), word.map((w) => `*${w}`), fc.constant('*'), text);
const values = fc.array(pattern, { minLength: 1, maxLength: 3 });
const ipBlock = fc.oneof(fc.ipV4(), fc.ipV6(), fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, n]) => `${ip}/${n}`), fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, n]) => `${ip}/${n}`));
const port = fc.integer({ min: 0, max: 65535 }).map(String);
const principal = fc.oneof(pattern, word.map((w) => `td.example/ns/${w}/sa/web`));

const SOURCE = {
  principals: principal, notPrincipals: principal, namespaces: pattern, notNamespaces: pattern,
  ipBlocks: ipBlock, notIpBlocks: ipBlock, requestPrincipals: pattern, notRequestPrincipals: pattern,
};
const OPERATION = {
  hosts: pattern, notHosts: pattern, methods: pattern, notMethods: pattern, paths: pattern, notPaths: pattern, ports: port, notPorts: port,
};
/**
 * One or two fields, each a short non-empty list: rules stay small enough that requests match them now
 * and then, so evaluation reaches the later checks of a rule.
 */
const fields = (spec: Record<string, fc.Arbitrary<string>>) =>
  fc
    .subarray(Object.keys(spec), { minLength: 1, maxLength: 2 })
    .chain((keys) => fc.record(Object.fromEntries(keys.map((k) => [k, fc.array(spec[k]!, { minLength: 1, maxLength: 2 })]))));
const rarely = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });

const headerName = fc.oneof(fc.constantFrom('x-team', ':authority', 'X-Team'), fc.constantFrom(...PROTOTYPE_NAMES));
const claimName = fc.constantFrom('groups', 'org', 'team', 'aud', ...PROTOTYPE_NAMES);
const condition = fc.oneof(
  fc.record({ key: fc.constantFrom('source.ip', 'destination.ip'), values: fc.array(ipBlock, { minLength: 1, maxLength: 2 }) }),
  fc.record({ key: fc.constant('destination.port'), notValues: fc.array(port, { minLength: 1, maxLength: 2 }) }),
  fc.record({ key: fc.constantFrom('source.namespace', 'source.principal', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter'), values }),
  fc.record({ key: headerName.map((h) => `request.headers[${h}]`), values }),
  fc.record({ key: headerName.map((h) => `request.headers[${h}]`), notValues: values }),
  fc.record({ key: fc.array(claimName, { minLength: 1, maxLength: 2 }).map((n) => `request.auth.claims${n.map((x) => `[${x}]`).join('')}`), values }),
  fc.record({ key: fc.array(claimName, { minLength: 1, maxLength: 2 }).map((n) => `request.auth.claims${n.map((x) => `[${x}]`).join('')}`), notValues: values }),
);
const rule = fc.record(
  {
    from: fc.array(fields(SOURCE).map((source) => ({ source })), { minLength: 1, maxLength: 2 }),
    to: fc.array(fields(OPERATION).map((operation) => ({ operation })), { minLength: 1, maxLength: 2 }),
    when: fc.array(condition, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

/** A raw AuthorizationPolicy object that follows the grammar, so validation must accept it (DENY always gets a rule). */
export const grammarPolicy = fc
  .record({
    name: fc.constantFrom('p', 'allow-web', 'deny-1'),
    namespace: fc.constantFrom('prod', 'istio-system', 'frontend'),
    action: fc.constantFrom('ALLOW', 'DENY', 'AUDIT', undefined),
    rules: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
    selector: rarely(dictionary(fc.constantFrom('app', 'version', ...PROTOTYPE_NAMES), fc.constantFrom('web', 'v1'))),
    selectsId: rarely(fc.constantFrom('spiffe://td.example/ns/prod/sa/web', 'spiffe://td.example/vm/billing')),
  })
  .map(({ name, namespace, action, rules, selector, selectsId }) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec: {
      ...(action ? { action } : {}),
      ...(rules || action === 'DENY' ? { rules: action === 'DENY' && !rules?.length ? [{}] : rules } : {}),
      ...(selector || selectsId ? { selector: { matchLabels: { ...selector, ...(selectsId ? { [SPIFFE_ID_LABEL]: selectsId } : {}) } } } : {}),
    },
  }));

/** One structural edit of a JSON tree, applied to the node found by `at` in a walk of the tree. */
export interface TreeEdit {
  at: number;
  op: 'replace' | 'delete' | 'addKey' | 'editText' | 'wrapInList';
  key: string;
  value: unknown;
  text: Edit[];
}

const KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'rules', 'from', 'to', 'when', 'source', 'operation', 'selector', 'matchLabels', 'action', 'key', 'values', 'notValues', 'principals', 'ports', 'paths', 'ipBlocks', 'remoteIpBlocks', 'provider', 'targetRef', 'annotations', 'istio.io/dry-run', ...PROTOTYPE_NAMES];
const TEXT = characters([...'aZ0*/.:[]{}%?#-_ ', '\u0000', '\u00e9', '{*}', '{**}', 'request.headers[', 'spiffe://', '::ffff:', '/33']);

export const treeEdits: fc.Arbitrary<TreeEdit[]> = fc.array(
  fc.record({
    at: fc.nat(),
    op: fc.constantFrom('replace', 'delete', 'addKey', 'editText', 'wrapInList'),
    key: fc.constantFrom(...KEYS),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('ALLOW', 'DENY', 'CUSTOM', 'true', '', [], {}, [{}], null)),
    text: edits(2),
  }),
  { minLength: 1, maxLength: 4 },
);

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** A mutated deep copy of `tree`. Keys are created with defineProperty, like JSON.parse creates "__proto__". */
export function applyTreeEdits(tree: unknown, list: readonly TreeEdit[]): unknown {
  const root = { value: structuredClone(tree) as unknown };
  for (const e of list) {
    const slots: Slot[] = [];
    const walk = (parent: Slot['parent'], key: string | number) => {
      slots.push({ parent, key });
      const v = (parent as Record<string | number, unknown>)[key];
      if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v as Slot['parent'], Array.isArray(v) ? Number(k) : k);
    };
    walk(root as unknown as Record<string, unknown>, 'value');
    const { parent, key } = slots[e.at % slots.length]!;
    const node = (parent as Record<string | number, unknown>)[key];
    const set = (target: object, k: string | number, v: unknown) => Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
    switch (e.op) {
      case 'replace':
        set(parent, key, structuredClone(e.value));
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else if (parent !== (root as unknown)) delete parent[key as string];
        break;
      case 'addKey':
        if (node && typeof node === 'object' && !Array.isArray(node)) set(node, e.key, structuredClone(e.value));
        else if (Array.isArray(node)) node.push(structuredClone(e.value));
        break;
      case 'editText':
        if (typeof node === 'string') set(parent, key, mutateText(node, e.text, TEXT));
        break;
      case 'wrapInList':
        set(parent, key, [node]);
        break;
    }
  }
  return root.value;
}

// ---- requests ---------------------------------------------------------------------------------------

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `::ffff:${ip}`), fc.ipV6().map((ip) => `${ip}%eth0`), fc.string({ maxLength: 12 }), fc.constant(''));

export const requestAttributes: fc.Arbitrary<RequestAttributes> = fc.record({
  principal: maybe(fc.oneof(word.map((w) => `spiffe://td.example/ns/${w}/sa/web`), fc.string({ maxLength: 30 }), fc.constant('spiffe://'))),
  sourceIp: maybe(address),
  destinationIp: maybe(address),
  destinationPort: maybe(fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer(), fc.double())),
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'DELETE'), fc.string({ maxLength: 8 })),
  path: fc.oneof(fc.constantFrom('/api/items?limit=5', '/', '/admin#x'), fc.string({ maxLength: 20 })),
  host: maybe(fc.oneof(fc.constantFrom('shop.example.com', 'shop.example.com:443', '[::1]:8080', 'WEB'), fc.string({ maxLength: 12 }))),
  headers: dictionary(fc.oneof(headerName.map((h) => h.toLowerCase()), fc.string({ maxLength: 6 })), fc.oneof(word, fc.string({ maxLength: 8 }))),
  jwtClaims: maybe(dictionary(fc.oneof(claimName, fc.constantFrom('iss', 'sub', 'azp')), fc.oneof(fc.jsonValue({ maxDepth: 2 }), word, fc.array(word)))),
});

export const workload: fc.Arbitrary<WorkloadRef> = fc.record(
  {
    namespace: fc.constantFrom('prod', 'istio-system', 'frontend'),
    labels: dictionary(fc.oneof(fc.constantFrom('app', 'version'), fc.constantFrom(...PROTOTYPE_NAMES)), fc.constantFrom('web', 'v1')),
    spiffeId: fc.constantFrom('spiffe://td.example/ns/prod/sa/web', 'spiffe://td.example/vm/billing'),
  },
  { requiredKeys: ['labels'] },
);
