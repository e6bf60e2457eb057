import { X509Certificate } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { JwtCa, TRUST_DOMAIN, verifyWithBundle } from './ca.js';

interface Key {
  use: string;
  kty: string;
  kid?: string;
  x5c?: string[];
  [param: string]: unknown;
}

describe('JWT keys in the CA trust bundle', () => {
  let ca: JwtCa | undefined;
  afterEach(async () => {
    await ca?.close();
    ca = undefined;
  });

  it('follows the SPIFFE bundle rules: jwt-svid keys carry a kid, x509-svid keys one x5c and no kid', async () => {
    ca = await JwtCa.start();
    const doc = JSON.parse(await ca.jwksJson()) as { keys: Key[]; spiffe_sequence?: number; spiffe_refresh_hint?: number };
    expect(doc.spiffe_sequence).toEqual(expect.any(Number));
    expect(doc.spiffe_refresh_hint).toBeGreaterThan(0);

    const x509 = doc.keys.filter((k) => k.use === 'x509-svid');
    const jwt = doc.keys.filter((k) => k.use === 'jwt-svid');
    expect(x509.length + jwt.length).toBe(doc.keys.length);
    expect(x509.length).toBeGreaterThanOrEqual(1);
    for (const key of x509) {
      expect(key.kid).toBeUndefined();
      expect(key.x5c).toHaveLength(1);
      expect(new X509Certificate(Buffer.from(key.x5c![0]!, 'base64')).ca).toBe(true);
    }
    expect(jwt).toHaveLength(1);
    const [key] = jwt;
    expect(key).toEqual({ use: 'jwt-svid', kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: ca.server.jwtKeys.active().kid });
    // The kid is the RFC 7638 thumbprint of the key, so anyone can recompute it.
    expect(key!.kid).toBe(await calculateJwkThumbprint(key as JWK, 'sha256'));
    // No private parameters leak into the bundle.
    expect(key).not.toHaveProperty('d');
  });

  it('keeps the JWT key across a restart, so tokens signed before it still verify', async () => {
    ca = await JwtCa.start();
    const agent = await ca.attestAgent({ joinToken: true });
    const entryId = await ca.createEntry(`spiffe://${TRUST_DOMAIN}/web`, agent.spiffeId);
    const before = await agent.mint({ entry_id: entryId, audience: ['db'] });
    const kid = ca.server.jwtKeys.active().kid;

    const keyFile = path.join(ca.dir, 'data', 'keys', `jwt-${kid}.pem`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const { dir } = ca;
    await ca.close({ keepDir: true });

    ca = await JwtCa.start({ dir });
    expect(ca.server.jwtKeys.active().kid).toBe(kid);
    expect(ca.server.bundle().jwtAuthorities.map((k) => k.keyId)).toEqual([kid]);
    expect((await readdir(path.join(dir, 'data', 'keys'))).filter((f) => f.startsWith('jwt-'))).toEqual([`jwt-${kid}.pem`]);
    const jwks = await ca.jwksJson();
    await expect(verifyWithBundle(before.token, jwks, { audience: 'db' })).resolves.toBeDefined();

    // Tokens signed after the restart use the same key.
    const again = await ca.attestAgent({ joinToken: true });
    const entry2 = await ca.createEntry(`spiffe://${TRUST_DOMAIN}/web2`, again.spiffeId);
    const after = await again.mint({ entry_id: entry2, audience: ['db'] });
    expect(decodeProtectedHeader(after.token).kid).toBe(kid);
  });

  it('signs with the configured algorithm (jwt.keyAlgorithm)', async () => {
    ca = await JwtCa.start({ config: { jwt: { keyAlgorithm: 'PS256', defaultTtl: '2m' } } });
    const agent = await ca.attestAgent({ joinToken: true });
    const entryId = await ca.createEntry(`spiffe://${TRUST_DOMAIN}/rsa`, agent.spiffeId);
    const svid = await agent.mint({ entry_id: entryId, audience: ['x'] });
    expect(decodeProtectedHeader(svid.token).alg).toBe('PS256');
    const { payload } = await verifyWithBundle(svid.token, await ca.jwksJson(), { audience: 'x', algorithms: ['PS256'] });
    expect(payload.exp! - payload.iat!).toBe(120);
    const jwt = (JSON.parse(await ca.jwksJson()) as { keys: Key[] }).keys.filter((k) => k.use === 'jwt-svid');
    expect(jwt.map((k) => k.kty)).toEqual(['RSA']);
  });
});
