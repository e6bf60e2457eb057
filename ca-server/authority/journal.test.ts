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

  it('lets only one of two racing activations through', async () => {
    await journal.recordPrepared(authority('a'), at(1));
    const results = await Promise.all([codeOf(journal.activate('a', at(2))), codeOf(journal.activate('a', at(2)))]);
    expect(results.sort()).toEqual(['FAILED_PRECONDITION', 'resolved']);
  });
});
