import { beforeEach, describe, expect, it } from 'vitest';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { SqliteDataStore } from '../datastore/sqlite.js';
import { AuthorityJournal, type NewAuthority } from './journal.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const authority = (id: string, kind: AuthorityRecord['kind'] = 'intermediate'): NewAuthority => ({
  id,
  kind,
  upstream: 'self-signed',
  certificatePem: 'PEM',
  upstreamRootsPem: 'ROOTS',
  keyPath: `keys/${id}.pem`,
  notBefore: T0,
  notAfter: at(86400),
});
const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);

describe('AuthorityJournal', () => {
  let store: SqliteDataStore;
  let journal: AuthorityJournal;
  beforeEach(() => {
    store = SqliteDataStore.open(':memory:');
    journal = new AuthorityJournal(store);
  });

  it('records a prepared authority with its creation time', async () => {
    expect(await journal.recordPrepared(authority('a'), at(1))).toEqual({ ...authority('a'), state: 'prepared', createdAt: at(1) });
    expect(await journal.list({ state: 'prepared' })).toHaveLength(1);
  });

  it('allows one prepared authority per kind and no duplicate ids', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    expect(await codeOf(journal.recordPrepared(authority('b'), at(2)))).toBe('FAILED_PRECONDITION');
    expect(await codeOf(journal.recordPrepared(authority('a'), at(2)))).toBe('ALREADY_EXISTS');
    await journal.recordPrepared(authority('r', 'root'), at(2));
    expect((await journal.list({ state: 'prepared' })).map((a) => a.id)).toEqual(['a', 'r']);
  });

  it('activates a prepared authority and retires the active one of the same kind', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    await journal.recordPrepared(authority('r', 'root'), at(1));
    await journal.activate('r', at(2));
    await journal.activate('a', at(2));
    await journal.recordPrepared(authority('b'), at(3));
    expect(await journal.activate('b', at(4))).toMatchObject({ id: 'b', state: 'active', activatedAt: at(4) });
    const byId = Object.fromEntries((await journal.list()).map((a) => [a.id, a]));
    expect(byId.a).toMatchObject({ state: 'retired', activatedAt: at(2), retiredAt: at(4) });
    expect(byId.r).toMatchObject({ state: 'active' });
    expect((await journal.list({ kind: 'intermediate', state: 'active' })).map((a) => a.id)).toEqual(['b']);
  });

  it('refuses transitions from the wrong state or for unknown ids', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    await journal.activate('a', at(2));
    expect(await codeOf(journal.activate('a', at(3)))).toBe('FAILED_PRECONDITION');
    expect(await codeOf(journal.activate('missing', at(3)))).toBe('NOT_FOUND');
    await journal.retire('a', at(4));
    expect(await codeOf(journal.retire('a', at(5)))).toBe('FAILED_PRECONDITION');
  });

  it('retires a prepared authority that will never be used', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    expect(await journal.retire('a', at(2))).toMatchObject({ state: 'retired', retiredAt: at(2) });
    await journal.recordPrepared(authority('b'), at(3));
  });

  it('keeps one prepared authority per slot when the caller says which compete', async () => {
    const sameRoot = (root: string) => (other: AuthorityRecord) => other.upstreamRootsPem === root;
    await journal.recordPrepared({ ...authority('a'), upstreamRootsPem: 'OLD' }, at(1), sameRoot('OLD'));
    await journal.recordPrepared({ ...authority('b'), upstreamRootsPem: 'NEW' }, at(1), sameRoot('NEW'));
    expect(await codeOf(journal.recordPrepared({ ...authority('c'), upstreamRootsPem: 'NEW' }, at(2), sameRoot('NEW')))).toBe(
      'FAILED_PRECONDITION',
    );
    expect((await journal.list({ state: 'prepared' })).map((x) => x.id)).toEqual(['a', 'b']);
  });

  describe('root rotation', () => {
    const start = () =>
      journal.recordRootRotation({ current: authority('r1', 'root'), root: authority('r2', 'root'), intermediate: authority('i2') }, at(10));
    const states = async () => Object.fromEntries((await journal.list()).map((x) => [x.id, x.state]));

    beforeEach(async () => {
      await journal.recordPrepared(authority('i1'), at(1));
      await journal.activate('i1', at(1));
      await journal.recordPrepared(authority('i1b'), at(5)); // the schedule's next signing CA under r1
    });

    it('records the current root as active and the next root with its signing CA as prepared, in one step', async () => {
      await start();
      expect(await states()).toEqual({ i1: 'active', i1b: 'prepared', r1: 'active', r2: 'prepared', i2: 'prepared' });
      expect((await journal.list({ kind: 'root' })).find((x) => x.id === 'r1')).toMatchObject({ createdAt: T0, activatedAt: T0 });
      expect(await codeOf(start())).toBe('FAILED_PRECONDITION');
    });

    it('activates root and signing CA together, retiring every other signing CA but keeping the old root', async () => {
      await start();
      await journal.activateRoot('r2', 'i2', at(20));
      expect(await states()).toEqual({ i1: 'retired', i1b: 'retired', r1: 'active', r2: 'active', i2: 'active' });
      expect((await journal.list()).find((x) => x.id === 'i1')).toMatchObject({ retiredAt: at(20) });
      // not finished until the old root is retired
      const again = journal.recordRootRotation({ root: authority('r3', 'root'), intermediate: authority('i3') }, at(21));
      expect(await codeOf(again)).toBe('FAILED_PRECONDITION');
      expect(await codeOf(journal.activateRoot('r2', 'i2', at(21)))).toBe('FAILED_PRECONDITION');
    });

    it('retires the old root, never the last active one', async () => {
      await start();
      expect(await codeOf(journal.retireRoot('r1', at(15)))).toBe('FAILED_PRECONDITION'); // r2 only prepared
      await journal.activateRoot('r2', 'i2', at(20));
      expect(await journal.retireRoot('r1', at(30))).toMatchObject({ state: 'retired', retiredAt: at(30) });
      expect(await codeOf(journal.retireRoot('r2', at(31)))).toBe('FAILED_PRECONDITION');
      await journal.recordRootRotation({ root: authority('r3', 'root'), intermediate: authority('i3') }, at(40));
    });

    it('refuses a duplicate record without writing any part of the step', async () => {
      const clash = journal.recordRootRotation({ current: authority('r1', 'root'), root: authority('r2', 'root'), intermediate: authority('i1b') }, at(10));
      expect(await codeOf(clash)).toBe('ALREADY_EXISTS');
      expect(await journal.list({ kind: 'root' })).toEqual([]);
    });
  });

  it('lets only one of two racing activations through', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    const results = await Promise.all([codeOf(journal.activate('a', at(2))), codeOf(journal.activate('a', at(2)))]);
    expect(results.sort()).toEqual(['FAILED_PRECONDITION', 'resolved']);
  });
});
