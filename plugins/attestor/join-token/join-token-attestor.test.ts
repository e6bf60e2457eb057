import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDataStore } from '../../../ca-server/datastore/sqlite.js';
import { MeshidError } from '../../../core/errors.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { JoinTokenAttestor } from './join-token-attestor.js';
import { hashJoinToken } from './token-text.js';

const TD = TrustDomain.parse('example.org');
let dir: string;
let store: SqliteDataStore;
let now: Date;
let attestor: JoinTokenAttestor;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-join-'));
  store = SqliteDataStore.open(dir);
  now = new Date('2030-01-01T00:00:00Z');
  attestor = new JoinTokenAttestor({ store, trustDomain: TD, maxTtlSeconds: 86_400, now: () => now });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>, token: string): Promise<MeshidError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MeshidError);
  const meshidError = err as MeshidError;
  expect(meshidError.code).toBe('UNAUTHENTICATED');
  if (token.trim() !== '') {
    for (const text of [meshidError.message, meshidError.stack ?? '', JSON.stringify(meshidError)]) {
      expect(text).not.toContain(token.trim());
      expect(text).not.toContain(token.trim().split('.')[2] ?? token);
    }
  }
  return meshidError;
}

describe('join tokens', () => {
  it('creates a token that is stored only as its SHA-256 and attests one agent', async () => {
    const created = await attestor.createJoinToken({ ttlSeconds: 600 });
    expect(created.token).toMatch(/^mjt1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    expect(created.token.split('.')[1]).toBe(created.id);
    expect(created.spiffeId.toString()).toBe(`spiffe://example.org/meshid/agent/join_token/${created.id}`);
    expect(created.expiresAt).toEqual(new Date(now.getTime() + 600_000));

    const [stored] = await store.listJoinTokens();
    expect(stored).toMatchObject({ id: created.id, tokenHash: hashJoinToken(created.token), spiffeId: created.spiffeId.toString() });
    expect(JSON.stringify(stored)).not.toContain(created.token.split('.')[2]);

    const identity = await attestor.attest(created.token);
    expect(identity).toEqual({
      spiffeId: created.spiffeId,
      kind: 'agent',
      attestor: 'join_token',
      selectors: [`join_token:id:${created.id}`],
      credentialExpiresAt: created.expiresAt,
    });
  });

  it('gives the agent a requested node agent SPIFFE ID in the trust domain', async () => {
    const created = await attestor.createJoinToken({ spiffeId: 'spiffe://example.org/meshid/agent/db-1', ttlSeconds: 60 });
    expect((await attestor.attest(created.token)).spiffeId.toString()).toBe('spiffe://example.org/meshid/agent/db-1');
  });

  it('refuses a SPIFFE ID outside the node agent namespace: such an agent could pass for a workload', async () => {
    for (const spiffeId of ['spiffe://example.org/vm/db-1', 'spiffe://example.org/meshid/server', 'spiffe://example.org/meshid/agentx']) {
      await expect(attestor.createJoinToken({ spiffeId })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `join token SPIFFE ID ${spiffeId} must be a node agent ID under /meshid/agent/`,
      });
    }
  });

  it('refuses SPIFFE IDs outside the trust domain or without a path, and bad TTLs', async () => {
    await expect(attestor.createJoinToken({ spiffeId: 'spiffe://other.org/vm/db-1' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('not in trust domain example.org'),
    });
    await expect(attestor.createJoinToken({ spiffeId: 'spiffe://example.org' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(attestor.createJoinToken({ spiffeId: 'not a spiffe id' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const ttlSeconds of [0, -5, 1.5, Number.NaN, 86_401]) {
      await expect(attestor.createJoinToken({ ttlSeconds })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'bad_join_token_ttl' });
    }
    expect(await store.listJoinTokens()).toEqual([]);
  });

  it('uses the default TTL when none is given', async () => {
    const a = new JoinTokenAttestor({ store, trustDomain: TD, defaultTtlSeconds: 120, now: () => now });
    expect((await a.createJoinToken()).expiresAt).toEqual(new Date(now.getTime() + 120_000));
  });

  it('accepts surrounding whitespace from copy and paste', async () => {
    const created = await attestor.createJoinToken({ ttlSeconds: 60 });
    await expect(attestor.attest(`  ${created.token}\n`)).resolves.toMatchObject({ kind: 'agent' });
  });

  it('a used token: UNAUTHENTICATED "has already been used"', async () => {
    const { id, token } = await attestor.createJoinToken({ ttlSeconds: 60 });
    await attestor.attest(token);
    const err = await refusal(attestor.attest(token), token);
    expect(err.reason).toBe('join_token_used');
    expect(err.message).toContain(`join token ${id} has already been used`);
  });

  it('an expired token: UNAUTHENTICATED "has expired"', async () => {
    const { token } = await attestor.createJoinToken({ ttlSeconds: 60 });
    now = new Date(now.getTime() + 60_000);
    const err = await refusal(attestor.attest(token), token);
    expect(err.reason).toBe('join_token_expired');
    expect(err.message).toContain('has expired');
  });

  it('a revoked token (meshid token revoke): UNAUTHENTICATED "was revoked"', async () => {
    const { id, token } = await attestor.createJoinToken({ ttlSeconds: 60 });
    expect(await store.revokeJoinToken(id, now)).toBe(true);
    const err = await refusal(attestor.attest(token), token);
    expect(err.reason).toBe('join_token_revoked');
    expect(err.message).toContain('was revoked');
  });

  it('an unknown token (right shape, wrong secret): UNAUTHENTICATED "not recognised"', async () => {
    const { token } = await attestor.createJoinToken({ ttlSeconds: 60 });
    const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const err = await refusal(attestor.attest(forged), forged);
    expect(err.reason).toBe('join_token_unknown');
    expect(err.message).toContain('not recognised');
    // The real token is still usable: a wrong guess does not burn it.
    await expect(attestor.attest(token)).resolves.toMatchObject({ kind: 'agent' });
  });

  it.each([
    ['empty', '', 'join_token_missing'],
    ['blank', '   ', 'join_token_missing'],
    ['wrong prefix', 'abc1.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'join_token_malformed'],
    ['short secret', 'mjt1.0123456789abcdef.tooshortsecretvalue', 'join_token_malformed'],
    ['uppercase id', 'mjt1.0123456789ABCDEF.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'join_token_malformed'],
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ', 'join_token_malformed'],
  ])('malformed token text (%s) is UNAUTHENTICATED without echoing it', async (_name, token, reason) => {
    const err = await refusal(attestor.attest(token), token);
    expect(err.reason).toBe(reason);
  });

  it('20 concurrent attempts with one token, over two connections to the database: exactly one wins', async () => {
    const second = SqliteDataStore.open(dir);
    try {
      const other = new JoinTokenAttestor({ store: second, trustDomain: TD, now: () => now });
      const { token } = await attestor.createJoinToken({ ttlSeconds: 600 });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? attestor : other).attest(token)),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(19);
      for (const o of lost) expect(o.reason).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'join_token_used' });
    } finally {
      await second.close();
    }
  });
});
