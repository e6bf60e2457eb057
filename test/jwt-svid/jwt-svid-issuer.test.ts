import { createPublicKey } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { JwtSigningKey } from '../../ca-server/authority/jwt-keys.js';
import { JwtSvidIssuer } from '../../ca-server/issuance/jwt-svid-issuer.js';
import { SpiffeId } from '../../core/spiffeid.js';
import { generateKeyPair } from '../../core/x509/keys.js';

const NOW = new Date('2030-06-01T12:00:00.750Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const ID = SpiffeId.parse('spiffe://example.org/ns/shop/sa/cart');

function issuerWith(key: JwtSigningKey) {
  return new JwtSvidIssuer({ active: () => key }, { defaultTtlSeconds: 300, maxTtlSeconds: 3600 }, () => NOW);
}
const es256: JwtSigningKey = { kid: 'kid-1', algorithm: 'ES256', privateKey: generateKeyPair('ec-p256').privateKey };
const issuer = issuerWith(es256);

describe('JwtSvidIssuer', () => {
  it('signs sub, aud, iat and exp with the active key, naming it in the header', async () => {
    const svid = await issuer.issue({ spiffeId: ID, audience: ['a', 'b'] });
    expect(decodeProtectedHeader(svid.token)).toEqual({ alg: 'ES256', kid: 'kid-1', typ: 'JWT' });
    const { payload } = await jwtVerify(svid.token, createPublicKey(es256.privateKey), { audience: 'b', currentDate: NOW });
    expect(payload).toEqual({ sub: ID.toString(), aud: ['a', 'b'], iat: NOW_S, exp: NOW_S + 300 });
    expect(svid).toMatchObject({ spiffeId: ID.toString(), expiresAt: new Date((NOW_S + 300) * 1000) });
  });

  it('uses the requested TTL, the default for 0, and the maximum for anything longer', async () => {
    const exp = async (ttlSeconds: number) => (await issuer.issue({ spiffeId: ID, audience: ['a'], ttlSeconds })).expiresAt.getTime() / 1000;
    expect(await exp(30)).toBe(NOW_S + 30);
    expect(await exp(0)).toBe(NOW_S + 300);
    expect(await exp(86400)).toBe(NOW_S + 3600);
  });

  it.each([-1, 1.5, Number.NaN])('rejects the TTL %s', async (ttlSeconds) => {
    await expect(issuer.issue({ spiffeId: ID, audience: ['a'], ttlSeconds })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      reason: 'bad_ttl',
    });
  });

  it.each([[[]], [['a', '']], [['  ']]])('rejects the audience list %j', async (audience) => {
    await expect(issuer.issue({ spiffeId: ID, audience })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'bad_audience' });
  });

  it('signs with RSA-PSS keys as PS256', async () => {
    const ps256: JwtSigningKey = { kid: 'rsa', algorithm: 'PS256', privateKey: generateKeyPair('rsa-2048').privateKey };
    const svid = await issuerWith(ps256).issue({ spiffeId: ID, audience: ['a'] });
    const { protectedHeader } = await jwtVerify(svid.token, createPublicKey(ps256.privateKey), {
      audience: 'a',
      currentDate: NOW,
      algorithms: ['PS256'],
    });
    expect(protectedHeader.alg).toBe('PS256');
  });
});
