import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TrustBundleMaterial } from '../identity-source.js';
import { validateJwtSvid } from './jwt-validation.js';

const TD = 'spiffe://example.org';
const SUBJECT = `${TD}/ns/shop/sa/web`;
const AUDIENCE = `${TD}/ns/shop/sa/db`;

let signingKey: CryptoKey;
let strangerKey: CryptoKey;
let bundles: Map<string, TrustBundleMaterial>;

const token = (options: { alg?: string; kid?: string | null; typ?: string; sub?: string; aud?: string[]; exp?: string | number; key?: CryptoKey } = {}) => {
  const header: Record<string, string> = { alg: options.alg ?? 'ES256', typ: options.typ ?? 'JWT' };
  if (options.kid !== null) header.kid = options.kid ?? 'k1';
  return new SignJWT({})
    .setProtectedHeader(header as { alg: string })
    .setSubject(options.sub ?? SUBJECT)
    .setAudience(options.aud ?? [AUDIENCE])
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '5m')
    .sign(options.key ?? signingKey);
};

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  const jwk = await exportJWK(pair.publicKey);
  // An X.509 entry without kid sits beside the JWT key, as in a real SPIFFE bundle.
  const x509Entry = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, use: 'x509-svid', x5c: ['AA=='] };
  bundles = new Map([
    [TD, { trustDomainId: TD, rootsDer: [], rootsPem: '', jwks: JSON.stringify({ keys: [x509Entry, { ...jwk, use: 'jwt-svid', kid: 'k1' }] }), sequence: 1 }],
  ]);
});

const reason = (promise: Promise<unknown>) =>
  promise.then(
    () => 'valid',
    (err: { code?: string; message: string }) => `${err.code}: ${err.message}`,
  );

describe('validateJwtSvid', () => {
  it('accepts a token signed by a bundle key, for an audience it names, and returns subject and claims', async () => {
    const result = await validateJwtSvid(await token({ aud: ['other', AUDIENCE] }), AUDIENCE, bundles);
    expect(result.spiffeId).toBe(SUBJECT);
    expect(result.claims).toMatchObject({ sub: SUBJECT, aud: ['other', AUDIENCE], exp: expect.any(Number) });
  });

  it('refuses, with INVALID_ARGUMENT saying why', async () => {
    const cases: [string, Promise<string>][] = [
      ['another audience', token({ aud: ['someone-else'] })],
      ['expired', token({ exp: Math.floor(Date.now() / 1000) - 60 })],
      ['unknown kid', token({ kid: 'k2' })],
      ['no kid', token({ kid: null })],
      ['signed by a stranger', token({ key: strangerKey })],
      ['foreign trust domain', token({ sub: 'spiffe://elsewhere.org/x' })],
      ['subject not a SPIFFE ID', token({ sub: 'web' })],
      ['typ', token({ typ: 'at+jwt' })],
    ];
    const results = Object.fromEntries(await Promise.all(cases.map(async ([name, t]) => [name, await reason(validateJwtSvid(await t, AUDIENCE, bundles))])));
    expect(results).toEqual({
      'another audience': expect.stringMatching(/^INVALID_ARGUMENT: JWT-SVID is not valid: .*aud/),
      expired: expect.stringMatching(/^INVALID_ARGUMENT: JWT-SVID is not valid: .*exp/),
      'unknown kid': 'INVALID_ARGUMENT: JWT-SVID is not valid: key k2 is not in the JWT bundle of example.org',
      'no kid': 'INVALID_ARGUMENT: JWT-SVID is not valid: the header has no kid',
      'signed by a stranger': 'INVALID_ARGUMENT: JWT-SVID is not valid: signature verification failed',
      'foreign trust domain': 'INVALID_ARGUMENT: JWT-SVID is not valid: no bundle for trust domain elsewhere.org',
      'subject not a SPIFFE ID': expect.stringMatching(/^INVALID_ARGUMENT: JWT-SVID is not valid: sub is not a SPIFFE ID/),
      typ: 'INVALID_ARGUMENT: JWT-SVID is not valid: header typ "at+jwt" is not JWT or JOSE',
    });
  });

  it('refuses algorithms outside the JWT-SVID allowlist (HMAC, none) and malformed tokens', async () => {
    const hmac = await new SignJWT({ sub: SUBJECT, aud: AUDIENCE })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a shared secret that is long enough!!'));
    expect(await reason(validateJwtSvid(hmac, AUDIENCE, bundles))).toMatch(/algorithm HS256 is not allowed/);
    const unsigned = `${Buffer.from('{"alg":"none","kid":"k1"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: SUBJECT, aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.`;
    expect(await reason(validateJwtSvid(unsigned, AUDIENCE, bundles))).toMatch(/algorithm none is not allowed/);
    expect(await reason(validateJwtSvid('not.a.jwt', AUDIENCE, bundles))).toBe('INVALID_ARGUMENT: JWT-SVID is not valid: not a JWS compact serialization');
  });
});
