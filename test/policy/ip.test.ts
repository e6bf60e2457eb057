import { describe, expect, it } from 'vitest';
import { compileIpMatcher, parseIp, parseIpBlock } from '../../core/policy/ip.js';
import { compileStringMatcher } from '../../core/policy/string-match.js';

describe('IP parsing', () => {
  it.each([
    ['10.1.2.3', { v4: 0x0a010203 }],
    ['0.0.0.0', { v4: 0 }],
    ['255.255.255.255', { v4: 0xffffffff }],
    ['::1', { v6: 1n }],
    ['::', { v6: 0n }],
    ['2001:db8::8:800:200c:417a', { v6: 0x20010db80000000000080800200c417an }],
    ['2001:DB8:0:0:8:800:200C:417A', { v6: 0x20010db80000000000080800200c417an }],
    ['1::', { v6: 1n << 112n }],
    ['::ffff:10.1.2.3', { v4: 0x0a010203 }],
    ['::ffff:a01:203', { v4: 0x0a010203 }],
    ['64:ff9b::10.1.2.3', { v6: (0x64ff9bn << 96n) | 0x0a010203n }],
  ])('%s', (text, expected) => {
    expect(parseIp(text)).toEqual(expected);
  });

  it.each(['', '10.1.2', '10.1.2.3.4', '10.1.2.256', '010.1.2.3', '1.2.3.-1', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '12345::', 'fe80::1%eth0'])(
    'rejects %j',
    (text) => {
      expect(parseIp(text)).toBeNull();
    },
  );

  it('accepts a zone in request addresses only', () => {
    expect(parseIp('fe80::1%eth0', { allowZone: true })).toEqual({ v6: (0xfe80n << 112n) | 1n });
  });

  it.each(['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '::/129', '10.0.0.0/', 'x/8'])('rejects block %j', (text) => {
    expect(parseIpBlock(text)).toBeNull();
  });

  it('turns blocks into ranges, masking host bits', () => {
    expect(parseIpBlock('10.1.9.9/16')).toEqual({ v4: { start: 0x0a010000, end: 0x0a01ffff } });
    expect(parseIpBlock('10.1.2.3')).toEqual({ v4: { start: 0x0a010203, end: 0x0a010203 } });
    expect(parseIpBlock('0.0.0.0/0')).toEqual({ v4: { start: 0, end: 0xffffffff } });
    expect(parseIpBlock('::ffff:10.0.0.0/104')).toEqual({ v4: { start: 0x0a000000, end: 0x0affffff } });
    expect(parseIpBlock('2001:db8::1/32')).toEqual({ v6: { start: 0x20010db8n << 96n, end: (0x20010db8n << 96n) | ((1n << 96n) - 1n) } });
  });
});

describe('IP matching', () => {
  const m = compileIpMatcher(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::ffff:172.16.0.0/108']);
  it.each([
    ['10.255.0.1', true],
    ['11.0.0.1', false],
    ['192.168.1.1', true],
    ['192.168.1.2', false],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['::ffff:10.0.0.1', true],
    ['172.16.5.5', true],
    ['172.32.0.1', false],
  ])('%s -> %s', (ip, expected) => {
    expect(m(parseIp(ip)!)).toBe(expected);
  });

  it('a mapped-space block shorter than /96 covers IPv4 addresses too', () => {
    expect(compileIpMatcher(['::/0'])(parseIp('1.2.3.4')!)).toBe(true);
    expect(compileIpMatcher(['::/96'])(parseIp('1.2.3.4')!)).toBe(false);
  });
});

describe('string patterns', () => {
  it.each<[string[], string, boolean]>([
    [['abc'], 'abc', true],
    [['abc'], 'abcd', false],
    [['abc*'], 'abcd', true],
    [['abc*'], 'xabc', false],
    [['*abc'], 'xabc', true],
    [['*abc'], 'abcx', false],
    [['*'], '', true],
    [['*a*'], 'xa*', true],
    [['*a*'], 'xab', false],
    [['a', 'b', 'c*'], 'b', true],
    [['a', 'b', 'c*'], 'cat', true],
    [['a', 'b', 'c*'], 'dog', false],
  ])('%j against %j', (patterns, value, expected) => {
    expect(compileStringMatcher(patterns)(value)).toBe(expected);
  });
});
