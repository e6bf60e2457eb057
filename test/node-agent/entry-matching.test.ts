import { describe, expect, it } from 'vitest';
import { entryMatches } from '../../node-agent/entries.js';

const caller = new Set(['unix:uid:1000', 'unix:gid:100']);

describe('entryMatches', () => {
  it('matches when every selector of the entry is among the caller\'s', () => {
    expect(entryMatches({ selectors: ['unix:uid:1000'] }, caller)).toBe(true);
    expect(entryMatches({ selectors: ['unix:gid:100', 'unix:uid:1000'] }, caller)).toBe(true);
  });

  it('does not match when one selector is missing', () => {
    expect(entryMatches({ selectors: ['unix:uid:1000', 'unix:gid:200'] }, caller)).toBe(false);
    expect(entryMatches({ selectors: ['unix:uid:10000'] }, caller)).toBe(false);
  });

  it('never matches an entry without selectors', () => {
    expect(entryMatches({ selectors: [] }, caller)).toBe(false);
  });

  it('never matches selectors a VM agent cannot vouch for, even if a caller claimed them', () => {
    expect(entryMatches({ selectors: ['k8s:ns:default'] }, new Set(['k8s:ns:default']))).toBe(false);
    expect(entryMatches({ selectors: ['unix:path:/usr/bin/app'] }, new Set(['unix:path:/usr/bin/app']))).toBe(false);
    expect(entryMatches({ selectors: ['unix:uid:abc'] }, new Set(['unix:uid:abc']))).toBe(false);
  });
});
