import { describe, expect, it } from 'vitest';
import { BundleAcks } from './bundle-acks.js';

describe('BundleAcks', () => {
  it('tracks which bundle, and so which roots, each agent applied last', () => {
    const acks = new BundleAcks();
    acks.publish(10, ['old']);
    acks.publish(11, ['old', 'new']);
    expect(acks.currentSequence).toBe(11);
    expect(acks.acknowledge('a', 10)).toBe(true);
    expect([acks.isCurrent('a'), acks.trusts('a', 'old'), acks.trusts('a', 'new')]).toEqual([false, true, false]);
    expect(acks.acknowledge('a', 11)).toBe(true);
    expect([acks.isCurrent('a'), acks.trusts('a', 'new')]).toEqual([true, true]);
    expect([acks.isCurrent('b'), acks.trusts('b', 'old')]).toEqual([false, false]);
  });

  it('ignores sequences it never published and never goes back to an older bundle', () => {
    const acks = new BundleAcks();
    acks.publish(5, ['r']);
    acks.publish(6, ['r', 's']);
    expect(acks.acknowledge('a', 99)).toBe(false);
    expect(acks.trusts('a', 'r')).toBe(false);
    acks.acknowledge('a', 6);
    acks.acknowledge('a', 5); // a late acknowledgement of the previous bundle
    expect(acks.trusts('a', 's')).toBe(true);
  });

  it('forgets old bundles beyond its history and agents that are gone', () => {
    const acks = new BundleAcks();
    acks.publish(1, ['r']);
    acks.acknowledge('a', 1);
    acks.acknowledge('b', 1);
    for (let seq = 2; seq <= 70; seq++) acks.publish(seq, ['r']);
    expect(acks.trusts('a', 'r')).toBe(false); // bundle 1 fell out of the history: not known to hold anything
    expect(acks.acknowledge('a', 1)).toBe(false);
    acks.acknowledge('a', 70);
    acks.acknowledge('b', 70);
    acks.retain(new Set(['a']));
    expect([acks.isCurrent('a'), acks.isCurrent('b')]).toEqual([true, false]);
  });
});
