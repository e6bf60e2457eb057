import { describe, expect, it } from 'vitest';
import { sourceAddress } from './source-address.js';

describe('sourceAddress', () => {
  it.each([
    ['10.1.2.3:51234', '10.1.2.3'],
    ['ipv4:10.1.2.3:51234', '10.1.2.3'],
    ['::ffff:10.1.2.3:51234', '10.1.2.3'],
    ['[::ffff:10.1.2.3]:51234', '10.1.2.3'],
    ['::1:51234', '0:0:0:0::/64'],
    ['[::1]:51234', '0:0:0:0::/64'],
    ['ipv6:[2001:db8:aa:bb:1:2:3:4]:443', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa:bb:1:2:3:4:443', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa:bb::9:443', '2001:db8:aa:bb::/64'],
    ['10.1.2.3', '10.1.2.3'],
    ['unknown', 'unknown'],
  ])('%s counts as %s', (peer, source) => {
    expect(sourceAddress(peer)).toBe(source);
  });

  it('counts every address of one IPv6 /64 as one source', () => {
    expect(sourceAddress('[2001:db8:0:1::a]:1')).toBe(sourceAddress('[2001:db8:0:1:ffff::b]:2'));
    expect(sourceAddress('[2001:db8:0:1::a]:1')).not.toBe(sourceAddress('[2001:db8:0:2::a]:1'));
  });
});
