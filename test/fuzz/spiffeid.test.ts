/**
 * SPIFFE ID parsing (core/spiffeid.ts) against the spec scanner in spiffe-reference.ts, on arbitrary
 * strings, on IDs generated from the grammar and then mutated, and on IDs at the length limits.
 *
 * Property: parse accepts exactly what the reference accepts, with the same trust domain and path, and
 * the ID round-trips (toString, parse again, TrustDomain.spiffeId); a refusal is always MeshidError
 * INVALID_ARGUMENT "bad_spiffe_id". TrustDomain.parse and SpiffeId.forServiceAccount are held to the same rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshidError } from '../../core/errors.js';
import { SpiffeId, TrustDomain } from '../../core/spiffeid.js';
import { characters, edits, mutateText } from './mutate.js';
import { check, fuzz, fuzzTimeout } from './runs.js';
import { MAX_ID_BYTES, MAX_TRUST_DOMAIN_BYTES, referenceSpiffeId, SCHEME, validPath, validTrustDomain } from './spiffe-reference.js';

/** Runs `fn`; a throw must be the documented SPIFFE ID error. Returns the value or undefined. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof MeshidError && err.code === 'INVALID_ARGUMENT' && err.reason === 'bad_spiffe_id')) {
      throw new Error(`undocumented error: ${String(err)}`, { cause: err });
    }
    return undefined;
  }
}

function checkId(input: string): void {
  const expected = referenceSpiffeId(input);
  const id = attempt(() => SpiffeId.parse(input));
  const shown = () => JSON.stringify(input);
  check(!!id === !!expected, () => `parse ${id ? 'accepted' : 'refused'} ${shown()}, the spec ${expected ? 'allows' : 'forbids'} it`);
  if (id && expected) {
    check(id.trustDomain.name === expected.trustDomain && id.path === expected.path, () => `parse split ${shown()} as ${id.trustDomain.name} + ${id.path}`);
    check(id.toString() === input && SpiffeId.parse(id.toString()).equals(id), () => `${shown()} does not round-trip`);
    check(TrustDomain.parse(id.trustDomain.id).spiffeId(id.path).toString() === input, () => `fromParts does not rebuild ${shown()}`);
  }
  // the same text as a trust domain, with or without the scheme
  const name = input.startsWith(SCHEME) ? input.slice(SCHEME.length) : input;
  const td = attempt(() => TrustDomain.parse(input))?.name;
  check(td === (validTrustDomain(name) ? name : undefined), () => `TrustDomain.parse(${shown()}) gave ${td}`);
}

const TD_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789._-'];
const SEGMENT_CHARS = [...TD_CHARS, ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'];
const trustDomain = (maxLength: number) => fc.string({ unit: fc.constantFrom(...TD_CHARS), minLength: 1, maxLength });
// "." and ".." come up now and then on their own: they must be refused
const segment = fc.oneof({ weight: 12, arbitrary: fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 12 }) }, fc.constantFrom('.', '..'));
const path = fc.array(segment, { maxLength: 6 }).map((segments) => segments.map((s) => `/${s}`).join(''));
const grammarId = fc.tuple(trustDomain(30), path).map(([td, p]) => `${SCHEME}${td}${p}`);

/** Characters and tokens that break the grammar: URI syntax the spec forbids, case, whitespace, non-ASCII. */
const SPIFFE_EDITS = characters([
  ...'aZ09.-_/:%?#@ \t\n\\+~*!$&;=', '\u0000', '\u00e9', '\u202e', '\u{1f600}',
  SCHEME, '//', '/.', '/..', '%2F', '%41', ':443', 'user@', '?q=1', '#frag', 'SPIFFE://',
]);
const mutatedId = fc.tuple(grammarId, edits(3)).map(([id, list]) => mutateText(id, list, SPIFFE_EDITS));

/** IDs within a few bytes of the 255-byte trust domain and 2048-byte ID limits. */
const longId = fc
  .tuple(fc.integer({ min: MAX_TRUST_DOMAIN_BYTES - 3, max: MAX_TRUST_DOMAIN_BYTES + 3 }), fc.integer({ min: MAX_ID_BYTES - 4, max: MAX_ID_BYTES + 4 }), fc.boolean())
  .map(([tdLength, total, multiByte]) => {
    const head = `${SCHEME}${'t'.repeat(tdLength)}/`;
    // a multi-byte character counts its UTF-8 bytes against the limit (and is refused anyway)
    return head + (multiByte ? 'é' : '') + 'p'.repeat(Math.max(1, total - head.length));
  });

describe('SPIFFE ID parsing (against the spec scanner)', () => {
  it('arbitrary strings', { timeout: fuzzTimeout() }, async () => {
    const anyText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS, '/', ':', '%', '@', '?'), maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => SCHEME + s),
    );
    await fuzz('spiffe-id-arbitrary', fc.property(anyText, checkId), { defaultRuns: 5000 });
  });

  it('grammar-generated IDs, mutated', { timeout: fuzzTimeout() }, async () => {
    await fuzz('spiffe-id-grammar', fc.property(fc.oneof(grammarId, mutatedId, longId), checkId), { defaultRuns: 8000 });
  });

  it('service-account IDs keep the namespace and account one segment each', { timeout: fuzzTimeout() }, async () => {
    const name = fc.tuple(fc.constantFrom('default', 'web', 'istio-system', 'a'), edits(2)).map(([n, list]) => mutateText(n, list, SPIFFE_EDITS));
    const td = TrustDomain.parse('cluster.local');
    await fuzz(
      'spiffe-id-service-account',
      fc.property(name, name, (ns, sa) => {
        const path = `/ns/${ns}/sa/${sa}`;
        const valid = !ns.includes('/') && !sa.includes('/') && validPath(path) && Buffer.byteLength(`${td.id}${path}`) <= MAX_ID_BYTES;
        const id = attempt(() => SpiffeId.forServiceAccount(td, ns, sa))?.toString();
        check(id === (valid ? `${td.id}${path}` : undefined), () => `forServiceAccount(${JSON.stringify(ns)}, ${JSON.stringify(sa)}) gave ${id}`);
      }),
      { defaultRuns: 3000 },
    );
  });

  it('values that are not strings are refused with the documented error', () => {
    fc.assert(fc.property(fc.anything(), (value) => {
      fc.pre(typeof value !== 'string');
      expect(attempt(() => SpiffeId.parse(value as string))).toBeUndefined();
    }), { numRuns: 300 });
  });
});
