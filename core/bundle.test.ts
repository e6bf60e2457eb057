import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certDer, createTestCa, TRUST_DOMAIN } from '../test/x509/fixtures.js';
import { TrustBundle, type SpiffeJwks } from './bundle.js';
import { MeshidError } from './errors.js';
import { generateKeyPair } from './x509/keys.js';

let ecRoot: Buffer;
let rsaRoot: Buffer;
let bundle: TrustBundle;
const jwtKey = generateKeyPair('ec-p256').publicKey;

beforeAll(async () => {
  ecRoot = certDer((await createTestCa('ec-p256')).root.certificate);
  rsaRoot = certDer((await createTestCa('rsa-2048')).root.certificate);
  bundle = new TrustBundle({
    trustDomain: TRUST_DOMAIN,
    x509Authorities: [ecRoot, rsaRoot],
    jwtAuthorities: [{ keyId: 'jwt-key-1', publicKey: jwtKey }],
    sequence: 7,
    refreshHintSeconds: 300,
  });
});

function badBundle(json: string): MeshidError {
  try {
    TrustBundle.fromJwks(TRUST_DOMAIN, json);
  } catch (err) {
    expect(err).toBeInstanceOf(MeshidError);
    expect((err as MeshidError).code).toBe('INVALID_ARGUMENT');
    expect((err as MeshidError).reason).toBe('bad_bundle');
    return err as MeshidError;
  }
  throw new Error('expected the bundle to be rejected');
}

const withKeys = (keys: unknown[], extra: object = {}) => JSON.stringify({ keys, ...extra });
const without = (key: object, field: string) => Object.fromEntries(Object.entries(key).filter(([k]) => k !== field));

describe('TrustBundle encodings', () => {
  it('PEM: one CERTIFICATE block per root, in order', () => {
    const pem = bundle.toPem();
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    expect(blocks).toHaveLength(2);
    expect(blocks.join('')).toBe(pem);
    expect(new X509Certificate(blocks[0]!).raw.equals(ecRoot)).toBe(true);
    expect(new X509Certificate(blocks[1]!).raw.equals(rsaRoot)).toBe(true);
  });

  it('SPIFFE JWKS: x509-svid keys with one x5c and no kid, jwt-svid keys with kid, sequence and refresh hint', () => {
    const jwks = bundle.toJwks();
    expect(jwks.spiffe_sequence).toBe(7);
    expect(jwks.spiffe_refresh_hint).toBe(300);
    const [ec, rsa, jwt] = jwks.keys;
    expect(ec).toMatchObject({ use: 'x509-svid', kty: 'EC', crv: 'P-256' });
    expect(ec!.x5c).toEqual([ecRoot.toString('base64')]);
    expect(ec!.kid).toBeUndefined();
    expect(rsa).toMatchObject({ use: 'x509-svid', kty: 'RSA', e: 'AQAB' });
    expect(rsa!.x5c).toHaveLength(1);
    expect(jwt).toEqual({ ...jwtKey.export({ format: 'jwk' }), use: 'jwt-svid', kid: 'jwt-key-1' });
    // only public key parameters are published
    for (const key of jwks.keys) expect(Object.keys(key).filter((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(k))).toEqual([]);
  });

  it('omits sequence and refresh hint when unset', () => {
    const jwks = new TrustBundle({ trustDomain: TRUST_DOMAIN, x509Authorities: [ecRoot] }).toJwks();
    expect(jwks).not.toHaveProperty('spiffe_sequence');
    expect(jwks).not.toHaveProperty('spiffe_refresh_hint');
  });

  it('round-trips through JSON', () => {
    const parsed = TrustBundle.fromJwks(TRUST_DOMAIN, JSON.stringify(bundle.toJwks()));
    expect(parsed.trustDomain.equals(TRUST_DOMAIN)).toBe(true);
    expect(parsed.x509Authorities.map((d) => d.toString('hex'))).toEqual([ecRoot.toString('hex'), rsaRoot.toString('hex')]);
    expect(parsed.jwtAuthorities).toHaveLength(1);
    expect(parsed.jwtAuthorities[0]!.keyId).toBe('jwt-key-1');
    expect(parsed.jwtAuthorities[0]!.publicKey.equals(jwtKey)).toBe(true);
    expect([parsed.sequence, parsed.refreshHintSeconds]).toEqual([7, 300]);
  });
});

describe('TrustBundle.fromJwks validation', () => {
  let x509Key: SpiffeJwks['keys'][number];
  let jwtJwk: SpiffeJwks['keys'][number];
  beforeAll(() => {
    [x509Key, , jwtJwk] = bundle.toJwks().keys as [SpiffeJwks['keys'][number], unknown, SpiffeJwks['keys'][number]];
  });

  it('ignores keys with an unknown use or key type', () => {
    const parsed = TrustBundle.fromJwks(
      TRUST_DOMAIN,
      withKeys([x509Key, { ...jwtJwk, use: 'future-svid' }, { kty: 'oct', use: 'jwt-svid', kid: 'k', k: 'AAAA' }]),
    );
    expect(parsed.x509Authorities).toHaveLength(1);
    expect(parsed.jwtAuthorities).toHaveLength(0);
  });

  it('rejects documents that are not SPIFFE bundles', () => {
    expect(badBundle('{').message).toMatch(/not valid JSON/);
    expect(badBundle('[]').message).toMatch(/"keys" array/);
    expect(badBundle('{"keys": {}}').message).toMatch(/"keys" array/);
    expect(badBundle(withKeys(['x'])).message).toMatch(/key 0 is not an object/);
  });

  it('rejects keys without use or kty', () => {
    expect(badBundle(withKeys([without(x509Key, 'use')])).message).toMatch(/no "use"/);
    expect(badBundle(withKeys([without(x509Key, 'kty')])).message).toMatch(/no "kty"/);
  });

  it('requires exactly one certificate per x509-svid key', () => {
    expect(badBundle(withKeys([{ ...x509Key, x5c: [] }])).message).toMatch(/exactly one certificate.*got 0/);
    expect(badBundle(withKeys([{ ...x509Key, x5c: [ecRoot.toString('base64'), ecRoot.toString('base64')] }])).message).toMatch(/got 2/);
    expect(badBundle(withKeys([without(x509Key, 'x5c')])).message).toMatch(/exactly one certificate/);
    expect(badBundle(withKeys([{ ...x509Key, x5c: ['bm90IGEgY2VydA=='] }])).message).toMatch(/not a DER X.509 certificate/);
  });

  it('rejects an x509-svid key whose JWK does not match its certificate', () => {
    const other = generateKeyPair('ec-p256').publicKey.export({ format: 'jwk' });
    expect(badBundle(withKeys([{ ...x509Key, x: other.x, y: other.y }])).message).toMatch(/do not match/);
    expect(badBundle(withKeys([{ ...x509Key, x5c: [rsaRoot.toString('base64')] }])).message).toMatch(/do not match/);
  });

  it('requires a kid and a valid key on jwt-svid keys', () => {
    expect(badBundle(withKeys([without(jwtJwk, 'kid')])).message).toMatch(/no "kid"/);
    expect(badBundle(withKeys([{ ...jwtJwk, x: 'AAAA' }])).message).toMatch(/not a valid public key/);
    expect(badBundle(withKeys([jwtJwk, jwtJwk])).message).toMatch(/appears twice/);
  });

  it('validates sequence and refresh hint', () => {
    for (const bad of [-1, 1.5, '3', 2 ** 60]) {
      badBundle(withKeys([], { spiffe_sequence: bad }));
      badBundle(withKeys([], { spiffe_refresh_hint: bad }));
    }
  });
});

describe('TrustBundle construction', () => {
  it('rejects a non-certificate authority and duplicate JWT key IDs', () => {
    expect(() => new TrustBundle({ trustDomain: TRUST_DOMAIN, x509Authorities: [Buffer.from('nope')] })).toThrow(/not a DER X.509/);
    const a = { keyId: 'k', publicKey: jwtKey };
    expect(() => new TrustBundle({ trustDomain: TRUST_DOMAIN, x509Authorities: [], jwtAuthorities: [a, a] })).toThrow(/appears twice/);
    expect(() => new TrustBundle({ trustDomain: TRUST_DOMAIN, x509Authorities: [], jwtAuthorities: [{ keyId: '', publicKey: jwtKey }] })).toThrow(
      /key ID/,
    );
  });
});
