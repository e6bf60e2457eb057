// The DataStore contract every backend meets (ca-server/datastore/datastore.ts), run by each backend's suite
// with a factory giving a store on an empty database.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataStore } from '../../ca-server/datastore/datastore.js';
import { agent, at, authority, codeOf, entry, jwtKey, token } from './fixtures.js';

export function describeDataStoreContract(name: string, openEmpty: () => Promise<DataStore>): void {
  describe(`${name}: DataStore contract`, () => {
    let store: DataStore;
    beforeEach(async () => {
      store = await openEmpty();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('join tokens', () => {
      it('stores and lists tokens without inventing optional fields', async () => {
        await store.createJoinToken(token('b', { createdAt: at(1) }));
        await store.createJoinToken(token('a', { createdAt: at(2), revokedAt: at(3) }));
        expect(await store.listJoinTokens()).toEqual([token('b', { createdAt: at(1) }), token('a', { createdAt: at(2), revokedAt: at(3) })]);
      });

      it('rejects a duplicate id or token hash with ALREADY_EXISTS', async () => {
        await store.createJoinToken(token('a'));
        expect(await codeOf(store.createJoinToken(token('a', { tokenHash: 'other' })))).toBe('ALREADY_EXISTS');
        expect(await codeOf(store.createJoinToken(token('b', { tokenHash: 'hash-a' })))).toBe('ALREADY_EXISTS');
      });

      it('consumes a valid token once, stamping usedAt', async () => {
        await store.createJoinToken(token('a'));
        expect(await store.consumeJoinToken('hash-a', at(10))).toEqual({ ok: true, token: token('a', { usedAt: at(10) }) });
        expect(await store.consumeJoinToken('hash-a', at(11))).toEqual({ ok: false, reason: 'used' });
        expect((await store.listJoinTokens())[0]!.usedAt).toEqual(at(10));
      });

      it('classifies unknown, expired and revoked tokens', async () => {
        await store.createJoinToken(token('exp', { expiresAt: at(60) }));
        await store.createJoinToken(token('rev'));
        expect(await store.revokeJoinToken('rev', at(5))).toBe(true);
        expect(await store.consumeJoinToken('nope', at(10))).toEqual({ ok: false, reason: 'unknown' });
        expect(await store.consumeJoinToken('hash-exp', at(60))).toEqual({ ok: false, reason: 'expired' });
        expect(await store.consumeJoinToken('hash-rev', at(10))).toEqual({ ok: false, reason: 'revoked' });
        // failed attempts never mark a token used
        expect((await store.listJoinTokens()).every((t) => t.usedAt === undefined)).toBe(true);
      });

      it('accepts a token up to just before its expiry', async () => {
        await store.createJoinToken(token('a', { expiresAt: at(60) }));
        expect((await store.consumeJoinToken('hash-a', new Date(at(60).getTime() - 1))).ok).toBe(true);
      });

      it('reports revocation of a used token as revoked and keeps the first revocation time', async () => {
        await store.createJoinToken(token('a'));
        await store.consumeJoinToken('hash-a', at(1));
        expect(await store.revokeJoinToken('a', at(2))).toBe(true);
        expect(await store.revokeJoinToken('a', at(3))).toBe(true);
        expect(await store.consumeJoinToken('hash-a', at(4))).toEqual({ ok: false, reason: 'revoked' });
        expect((await store.listJoinTokens())[0]!.revokedAt).toEqual(at(2));
      });

      it('returns false when revoking an unknown id', async () => {
        expect(await store.revokeJoinToken('missing', at(1))).toBe(false);
      });

      it('lets exactly one of 50 concurrent consumers win', async () => {
        await store.createJoinToken(token('a'));
        const results = await Promise.all(Array.from({ length: 50 }, () => store.consumeJoinToken('hash-a', at(1))));
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(49);
      });
    });

    describe('agents', () => {
      it('inserts, replaces on upsert, and lists sorted by SPIFFE ID', async () => {
        await store.upsertAgent(agent('b'));
        await store.upsertAgent(agent('a'));
        await store.upsertAgent(agent('B'));
        const renewed = agent('b', { serialNumber: 'ff', lastSeenAt: at(30), selectors: ['x:y'] });
        await store.upsertAgent(renewed);
        expect(await store.getAgent(renewed.spiffeId)).toEqual(renewed);
        // byte order, whatever the database's locale
        expect((await store.listAgents()).map((a) => a.spiffeId)).toEqual([agent('B').spiffeId, agent('a').spiffeId, agent('b').spiffeId]);
      });

      it('returns undefined for an unknown agent', async () => {
        expect(await store.getAgent('spiffe://example.org/agent/none')).toBeUndefined();
      });

      it('deletes evicted agents and returns false for unknown ones', async () => {
        await store.upsertAgent(agent('a'));
        expect(await store.deleteAgent(agent('a').spiffeId)).toBe(true);
        expect(await store.getAgent(agent('a').spiffeId)).toBeUndefined();
        expect(await store.deleteAgent(agent('a').spiffeId)).toBe(false);
      });

      it('records a renewal as the pending serial and promotes it only when it is the pending one', async () => {
        await store.upsertAgent(agent('a', { serialNumber: '01' }));
        expect(await store.renewAgent(agent('a').spiffeId, { newSerialNumber: '02', expiresAt: at(90), lastSeenAt: at(40) })).toBe(true);
        expect(await store.getAgent(agent('a').spiffeId)).toMatchObject({ serialNumber: '01', newSerialNumber: '02', expiresAt: at(90) });
        expect(await store.promoteAgentSerial(agent('a').spiffeId, '03')).toBe(false);
        expect(await store.promoteAgentSerial(agent('a').spiffeId, '02')).toBe(true);
        const promoted = await store.getAgent(agent('a').spiffeId);
        expect(promoted).toMatchObject({ serialNumber: '02' });
        expect(promoted!.newSerialNumber).toBeUndefined();
        expect(await store.promoteAgentSerial(agent('a').spiffeId, '02')).toBe(false);
      });

      it('refuses to record a renewal for an agent that is gone', async () => {
        expect(await store.renewAgent(agent('x').spiffeId, { newSerialNumber: '02', expiresAt: at(90), lastSeenAt: at(40) })).toBe(false);
        expect(await store.getAgent(agent('x').spiffeId)).toBeUndefined();
      });

      it('a fresh attestation (upsert) drops a pending serial', async () => {
        await store.upsertAgent(agent('a', { serialNumber: '01', newSerialNumber: '02' }));
        await store.upsertAgent(agent('a', { serialNumber: '05' }));
        expect(await store.getAgent(agent('a').spiffeId)).toEqual(agent('a', { serialNumber: '05' }));
      });

      it('bans delete the agent, keep the first ban, list sorted, and unban once', async () => {
        await store.upsertAgent(agent('a'));
        await store.banAgent({ spiffeId: agent('a').spiffeId, bannedAt: at(5), reason: 'stolen disk' });
        await store.banAgent({ spiffeId: agent('a').spiffeId, bannedAt: at(6), reason: 'again' });
        await store.banAgent({ spiffeId: agent('0').spiffeId, bannedAt: at(7), reason: '' });
        expect(await store.getAgent(agent('a').spiffeId)).toBeUndefined();
        expect(await store.getAgentBan(agent('a').spiffeId)).toEqual({ spiffeId: agent('a').spiffeId, bannedAt: at(5), reason: 'stolen disk' });
        expect((await store.listAgentBans()).map((b) => b.spiffeId)).toEqual([agent('0').spiffeId, agent('a').spiffeId]);
        expect(await store.unbanAgent(agent('a').spiffeId)).toBe(true);
        expect(await store.unbanAgent(agent('a').spiffeId)).toBe(false);
        expect(await store.getAgentBan(agent('a').spiffeId)).toBeUndefined();
      });
    });

    describe('registration entries', () => {
      it('creates, gets and lists entries, filtered by parent', async () => {
        await store.createEntry(entry('e2', 'p1', { createdAt: at(2), dnsNames: ['web.local'], ttlSeconds: 600 }));
        await store.createEntry(entry('e1', 'p1', { createdAt: at(1) }));
        await store.createEntry(entry('e3', 'p2', { createdAt: at(3) }));
        expect(await store.getEntry('e2')).toEqual(entry('e2', 'p1', { createdAt: at(2), dnsNames: ['web.local'], ttlSeconds: 600 }));
        expect((await store.listEntries()).map((e) => e.id)).toEqual(['e1', 'e2', 'e3']);
        expect((await store.listEntries({ parentId: 'p1' })).map((e) => e.id)).toEqual(['e1', 'e2']);
        expect((await store.listEntries({ parentId: 'p2' })).map((e) => e.id)).toEqual(['e3']);
        expect(await store.listEntries({ parentId: 'p9' })).toEqual([]);
        await store.createEntry(entry('e4', 'p2', { createdAt: at(4), spiffeId: entry('e1', 'p1').spiffeId }));
        expect((await store.listEntries({ spiffeId: entry('e1', 'p1').spiffeId })).map((e) => e.id)).toEqual(['e1', 'e4']);
        expect((await store.listEntries({ spiffeId: entry('e1', 'p1').spiffeId, parentId: 'p2' })).map((e) => e.id)).toEqual(['e4']);
      });

      it('keeps selectors and DNS names exactly, whatever characters they hold', async () => {
        const odd = entry('e1', 'p1', { selectors: ['k8s:label:a,b', 'x:"quoted"', 'x:{braces}', 'x:back\\slash', 'x:ünïcode', 'x:'], dnsNames: [] });
        await store.createEntry(odd);
        expect(await store.getEntry('e1')).toEqual(odd);
      });

      it('rejects a duplicate id and reports unknown ids', async () => {
        await store.createEntry(entry('e1', 'p1'));
        expect(await codeOf(store.createEntry(entry('e1', 'p2')))).toBe('ALREADY_EXISTS');
        expect(await store.getEntry('none')).toBeUndefined();
        expect(await store.deleteEntry('none')).toBe(false);
      });

      it('deletes entries', async () => {
        await store.createEntry(entry('e1', 'p1'));
        expect(await store.deleteEntry('e1')).toBe(true);
        expect(await store.getEntry('e1')).toBeUndefined();
        expect(await store.deleteEntry('e1')).toBe(false);
      });
    });

    describe('authorities', () => {
      it('round-trips every field and updates on put', async () => {
        const full = authority('a', {
          keyPath: 'keys/a.pem',
          upstreamRootsPem: 'ROOTS',
          state: 'retired',
          activatedAt: at(1),
          retiredAt: at(2),
        });
        await store.putAuthority(authority('a'));
        await store.putAuthority(full);
        expect(await store.listAuthorities()).toEqual([full]);
      });

      it('filters by state and kind', async () => {
        await store.putAuthority(authority('i1', { state: 'active', createdAt: at(1) }));
        await store.putAuthority(authority('i2', { state: 'prepared', createdAt: at(2) }));
        await store.putAuthority(authority('i0', { state: 'retired', createdAt: at(0) }));
        await store.putAuthority(authority('r1', { kind: 'root', state: 'active', createdAt: at(3) }));
        const ids = async (f?: Parameters<DataStore['listAuthorities']>[0]) => (await store.listAuthorities(f)).map((a) => a.id);
        expect(await ids()).toEqual(['i0', 'i1', 'i2', 'r1']);
        expect(await ids({ state: 'active' })).toEqual(['i1', 'r1']);
        expect(await ids({ kind: 'root' })).toEqual(['r1']);
        expect(await ids({ state: 'active', kind: 'intermediate' })).toEqual(['i1']);
        expect(await ids({ state: 'retired', kind: 'root' })).toEqual([]);
      });
    });

    describe('JWT keys', () => {
      it('round-trips every field, updates on put, and filters by state', async () => {
        const retired = jwtKey('k1', { state: 'retired', activatedAt: at(1), retiredAt: at(2), publishedUntil: at(3) });
        await store.putJwtKey(jwtKey('k1'));
        await store.putJwtKey(retired);
        await store.putJwtKey(jwtKey('k2', { state: 'active', createdAt: at(1), activatedAt: at(2) }));
        expect(await store.listJwtKeys()).toEqual([retired, jwtKey('k2', { state: 'active', createdAt: at(1), activatedAt: at(2) })]);
        expect((await store.listJwtKeys({ state: 'active' })).map((k) => k.id)).toEqual(['k2']);
        expect(await store.listJwtKeys({ state: 'prepared' })).toEqual([]);
      });
    });

    describe('transactions', () => {
      it('commits the callback result', async () => {
        const result = await store.transaction(async (tx) => {
          await tx.createEntry(entry('e1', 'p1'));
          await tx.putAuthority(authority('a'));
          return 42;
        });
        expect(result).toBe(42);
        expect(await store.getEntry('e1')).toBeDefined();
        expect(await store.listAuthorities()).toHaveLength(1);
      });

      it('rolls everything back when the callback throws', async () => {
        await store.createEntry(entry('kept', 'p1'));
        const failed = store.transaction(async (tx) => {
          await tx.createEntry(entry('e1', 'p1'));
          await tx.deleteEntry('kept');
          throw new Error('boom');
        });
        await expect(failed).rejects.toThrow('boom');
        expect((await store.listEntries()).map((e) => e.id)).toEqual(['kept']);
      });

      it('keeps a write made outside a running transaction out of it', async () => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let began!: () => void;
        const inside = new Promise<void>((r) => (began = r));
        const tx = store.transaction(async (t) => {
          await t.createEntry(entry('in-tx', 'p1'));
          began();
          await gate;
          throw new Error('rolled back');
        });
        await inside;
        const outside = store.createEntry(entry('outside', 'p1'));
        release();
        await expect(tx).rejects.toThrow('rolled back');
        await outside;
        expect((await store.listEntries()).map((e) => e.id)).toEqual(['outside']);
      });

      it('runs concurrent transactions one at a time, so a read-then-write never loses an update', async () => {
        const results = await Promise.all(
          Array.from({ length: 5 }, () =>
            store.transaction(async (tx) => {
              const n = (await tx.listEntries()).length;
              await new Promise((r) => setTimeout(r, 5));
              await tx.createEntry(entry(`e${n}`, 'p1', { createdAt: at(n) }));
            }),
          ),
        );
        expect(results).toHaveLength(5);
        expect((await store.listEntries()).map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
      });

      it('stays usable after a refused write inside it', async () => {
        await store.createEntry(entry('e1', 'p1'));
        await store.transaction(async (tx) => {
          expect(await codeOf(tx.createEntry(entry('e1', 'p2')))).toBe('ALREADY_EXISTS');
          expect(await codeOf(tx.createJoinToken(token('a')))).toBe('resolved');
          expect(await codeOf(tx.createJoinToken(token('a')))).toBe('ALREADY_EXISTS');
          await tx.createEntry(entry('e2', 'p1'));
        });
        expect((await store.listEntries()).map((e) => e.id)).toEqual(['e1', 'e2']);
        expect(await store.listJoinTokens()).toEqual([token('a')]);
      });

      it('fails fast instead of deadlocking when the store itself is used inside its transaction', async () => {
        const inner = store.transaction(async () => store.listEntries());
        expect(await codeOf(inner)).toBe('INTERNAL');
        expect(await codeOf(store.transaction(async () => store.transaction(async () => 1)))).toBe('INTERNAL');
      });

      it('joins nested transactions to the outer one', async () => {
        const failed = store.transaction(async (tx) => {
          await tx.transaction(async (inner) => inner.createEntry(entry('nested', 'p1')));
          throw new Error('outer fails');
        });
        await expect(failed).rejects.toThrow('outer fails');
        expect(await store.getEntry('nested')).toBeUndefined();
      });

      it('refuses a transaction handle used after the transaction finished', async () => {
        const leaked = await store.transaction(async (tx) => tx);
        expect(await codeOf(leaked.listEntries())).toBe('INTERNAL');
      });

      it('makes consume inside a transaction part of it', async () => {
        await store.createJoinToken(token('a'));
        await expect(
          store.transaction(async (tx) => {
            expect((await tx.consumeJoinToken('hash-a', at(1))).ok).toBe(true);
            throw new Error('attestation failed later');
          }),
        ).rejects.toThrow('attestation failed later');
        expect((await store.consumeJoinToken('hash-a', at(2))).ok).toBe(true);
      });
    });

    it('answers ping', async () => {
      await store.ping();
    });

    it('waits for a running transaction before closing and refuses later calls', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = store.transaction(async (t) => {
        await gate;
        await t.createEntry(entry('e1', 'p1'));
      });
      const closed = store.close();
      release();
      await tx;
      await closed;
      expect(await codeOf(store.listEntries())).toBe('FAILED_PRECONDITION');
      await store.close();
    });
  });
}
