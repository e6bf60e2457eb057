import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshidError } from './errors.js';
import { MAX_SPIFFE_ID_LENGTH, MAX_TRUST_DOMAIN_LENGTH, SpiffeId, TrustDomain } from './spiffeid.js';

/** The SPIFFE-ID rules of PROTOCOLS.md, transcribed independently as the oracle for property tests. */
function isValidSpiffeId(s: string): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[a-zA-Z0-9._-]+)*)$/.exec(s);
  if (!m) return false;
  const [, td, path] = m;
  if (td!.length > MAX_TRUST_DOMAIN_LENGTH || s.length > MAX_SPIFFE_ID_LENGTH) return false;
  return path!.split('/').slice(1).every((seg) => seg !== '.' && seg !== '..');
}

function expectRejected(input: string, message?: RegExp): void {
  let error: unknown;
  try {
    SpiffeId.parse(input);
  } catch (err) {
    error = err;
  }
  expect(error, `${JSON.stringify(input)} should be rejected`).toBeInstanceOf(MeshidError);
  expect((error as MeshidError).code).toBe('INVALID_ARGUMENT');
  expect((error as MeshidError).reason).toBe('bad_spiffe_id');
  if (message) expect((error as MeshidError).message).toMatch(message);
}

const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-');
const segChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-');
const trustDomainName = fc.string({ unit: tdChar, minLength: 1, maxLength: 40 });
const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 16 }).filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { maxLength: 6 }).map((segs) => segs.map((s) => `/${s}`).join(''));
const validId = fc.tuple(trustDomainName, path).map(([td, p]) => `spiffe://${td}${p}`);

describe('SpiffeId.parse table', () => {
  const valid: [string, string, string][] = [
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://example.org/ns/default/sa/web', 'example.org', '/ns/default/sa/web'],
    ['spiffe://a-b_c.d/x.y_z-1', 'a-b_c.d', '/x.y_z-1'],
    ['spiffe://10.0.0.1/Upper/CASE', '10.0.0.1', '/Upper/CASE'],
    ['spiffe://td/.../.a/a.', 'td', '/.../.a/a.'],
  ];
  for (const [input, td, p] of valid) {
    it(`accepts ${input}`, () => {
      const id = SpiffeId.parse(input);
      expect(id.trustDomain.name).toBe(td);
      expect(id.path).toBe(p);
      expect(id.toString()).toBe(input);
    });
  }

  const invalid: [string, string, RegExp?][] = [
    ['empty', '', /empty/],
    ['wrong scheme', 'https://example.org/a', /spiffe:\/\//],
    ['uppercase scheme', 'SPIFFE://example.org/a', /spiffe:\/\//],
    ['single slash after scheme', 'spiffe:/example.org/a'],
    ['no scheme', 'example.org/a'],
    ['missing trust domain', 'spiffe:///a', /trust domain is missing/],
    ['only the scheme', 'spiffe://', /trust domain is missing/],
    ['uppercase trust domain', 'spiffe://Example.org/a', /lowercase/],
    ['port', 'spiffe://example.org:8443/a'],
    ['userinfo', 'spiffe://user@example.org/a'],
    ['userinfo with password', 'spiffe://user:pw@example.org'],
    ['percent-encoded trust domain', 'spiffe://exa%6Dple.org/a'],
    ['percent-encoded path', 'spiffe://example.org/a%20b', /segments may only contain/],
    ['query', 'spiffe://example.org/a?b=c'],
    ['query on the trust domain', 'spiffe://example.org?b=c'],
    ['fragment', 'spiffe://example.org/a#frag'],
    ['empty segment', 'spiffe://example.org//a', /empty segment/],
    ['dot segment', 'spiffe://example.org/./a', /"\." or "\.\."/],
    ['dot-dot segment', 'spiffe://example.org/a/..', /"\." or "\.\."/],
    ['trailing slash', 'spiffe://example.org/a/', /trailing/],
    ['trailing slash after trust domain', 'spiffe://example.org/', /trailing/],
    ['space', 'spiffe://example.org/a b'],
    ['leading space', ' spiffe://example.org/a'],
    ['non-ASCII trust domain', 'spiffe://exämple.org/a'],
    ['non-ASCII path', 'spiffe://example.org/é'],
    ['NUL byte', 'spiffe://example.org/a\u0000b'],
    ['backslash', 'spiffe://example.org/a\\b'],
  ];
  for (const [name, input, message] of invalid) {
    it(`rejects ${name}`, () => expectRejected(input, message));
  }

  it('enforces the 255-byte trust domain limit', () => {
    const td255 = 'a'.repeat(MAX_TRUST_DOMAIN_LENGTH);
    expect(SpiffeId.parse(`spiffe://${td255}/x`).trustDomain.name).toBe(td255);
    expect(TrustDomain.parse(td255).name).toBe(td255);
    expectRejected(`spiffe://${td255}a/x`, /255/);
    expect(() => TrustDomain.parse(`${td255}a`)).toThrow(/255/);
  });

  it('enforces the 2048-byte SPIFFE ID limit', () => {
    const prefix = 'spiffe://example.org/';
    const exact = prefix + 'p'.repeat(MAX_SPIFFE_ID_LENGTH - prefix.length);
    expect(SpiffeId.parse(exact).toString()).toHaveLength(2048);
    expectRejected(`${exact}p`, /2048/);
    const td = TrustDomain.parse('example.org');
    expect(() => td.spiffeId(`/${'p'.repeat(MAX_SPIFFE_ID_LENGTH - prefix.length)}`)).not.toThrow();
    expect(() => td.spiffeId(`/${'p'.repeat(MAX_SPIFFE_ID_LENGTH - prefix.length + 1)}`)).toThrow(/2048/);
  });
});

describe('TrustDomain and constructors', () => {
  it('parses a bare name or a trust domain ID', () => {
    expect(TrustDomain.parse('example.org').id).toBe('spiffe://example.org');
    expect(TrustDomain.parse('spiffe://example.org').name).toBe('example.org');
    for (const bad of ['', 'Example.org', 'example.org:80', 'spiffe://example.org/a', 'a@b']) {
      expect(() => TrustDomain.parse(bad)).toThrow(MeshidError);
    }
  });

  it('builds Kubernetes service-account IDs and refuses names that would change the path shape', () => {
    const td = TrustDomain.parse('cluster.local');
    expect(SpiffeId.forServiceAccount(td, 'default', 'web').toString()).toBe('spiffe://cluster.local/ns/default/sa/web');
    for (const [ns, sa] of [
      ['a/sa/b', 'web'],
      ['default', 'web/extra'],
      ['', 'web'],
      ['..', 'web'],
    ]) {
      expect(() => SpiffeId.forServiceAccount(td, ns!, sa!)).toThrow(MeshidError);
    }
  });

  it('compares by trust domain and path', () => {
    const a = SpiffeId.parse('spiffe://example.org/a');
    expect(a.equals(SpiffeId.parse('spiffe://example.org/a'))).toBe(true);
    expect(a.equals(SpiffeId.parse('spiffe://example.org/A'))).toBe(false);
    expect(a.memberOf(TrustDomain.parse('example.org'))).toBe(true);
    expect(a.memberOf(TrustDomain.parse('example.com'))).toBe(false);
  });
});

describe('SpiffeId properties', () => {
  it('valid IDs round-trip through parse, toString and fromParts', () => {
    fc.assert(
      fc.property(validId, (input) => {
        const id = SpiffeId.parse(input);
        expect(id.toString()).toBe(input);
        expect(SpiffeId.parse(id.toString()).equals(id)).toBe(true);
        expect(id.trustDomain.spiffeId(id.path).toString()).toBe(input);
      }),
      { numRuns: 2000 },
    );
  });

  it('random strings: accepted exactly when the spec allows, never normalised', () => {
    const anyString = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ maxLength: 60 }).map((s) => `spiffe://${s}`),
    );
    fc.assert(
      fc.property(anyString, (input) => {
        let accepted = false;
        try {
          expect(SpiffeId.parse(input).toString()).toBe(input);
          accepted = true;
        } catch (err) {
          expect(err).toBeInstanceOf(MeshidError);
          expect((err as MeshidError).reason).toBe('bad_spiffe_id');
        }
        expect(accepted).toBe(isValidSpiffeId(input));
      }),
      { numRuns: 3000 },
    );
  });

  it('adversarial edits of valid IDs agree with the spec', () => {
    const nasty = fc.constantFrom('%', '%2F', '?', '#', '@', ':', ':443', '/', '//', '/.', '/..', ' ', '\t', '\n', 'A', 'Z', '\u0000', 'é', '\u202e', '\\', '+', '~', '*', '!', '$', '&', "'", '(', ';', '=');
    const edited = fc.tuple(validId, fc.nat(), nasty).map(([id, pos, insert]) => {
      const at = 'spiffe://'.length + (pos % (id.length - 'spiffe://'.length + 1));
      return id.slice(0, at) + insert + id.slice(at);
    });
    fc.assert(
      fc.property(edited, (input) => {
        let accepted = true;
        try {
          SpiffeId.parse(input);
        } catch (err) {
          expect(err).toBeInstanceOf(MeshidError);
          accepted = false;
        }
        expect(accepted).toBe(isValidSpiffeId(input));
      }),
      { numRuns: 3000 },
    );
  });

  it('length limits hold around the boundaries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 2100 }), (tdLen, pathLen) => {
        const input = `spiffe://${'t'.repeat(tdLen)}${pathLen ? `/${'p'.repeat(pathLen)}` : ''}`;
        let accepted = true;
        try {
          SpiffeId.parse(input);
        } catch {
          accepted = false;
        }
        expect(accepted).toBe(tdLen <= MAX_TRUST_DOMAIN_LENGTH && input.length <= MAX_SPIFFE_ID_LENGTH);
      }),
      { numRuns: 1000 },
    );
  });
});
