import { describe, expect, it } from 'vitest';
import { allowOptions, operand, parseArgs, UsageError } from './args.js';

const parsed = (...argv: string[]) => {
  const args = parseArgs(argv, ['help', 'json', 'force']);
  return { positionals: args.positionals, options: Object.fromEntries(args.options) };
};

describe('parseArgs', () => {
  it.each([
    [['entry', 'list'], { positionals: ['entry', 'list'], options: {} }],
    [['token', 'create', '--ttl', '10m'], { positionals: ['token', 'create'], options: { ttl: ['10m'] } }],
    [['token', 'create', '--ttl=10m'], { positionals: ['token', 'create'], options: { ttl: ['10m'] } }],
    [['entry', 'create', '--selector', 'unix:uid:1', '--selector=unix:gid:2'], { positionals: ['entry', 'create'], options: { selector: ['unix:uid:1', 'unix:gid:2'] } }],
    [['ca', 'rotate', 'activate', '--force', '--json'], { positionals: ['ca', 'rotate', 'activate'], options: { force: ['true'], json: ['true'] } }],
    [['server', '--svid.maxTtl=24h', '--listen.grpc', '127.0.0.1:0'], { positionals: ['server'], options: { 'svid.maxTtl': ['24h'], 'listen.grpc': ['127.0.0.1:0'] } }],
    [['entry', 'delete', '--', '--odd-id'], { positionals: ['entry', 'delete', '--odd-id'], options: {} }],
    [['token', 'create', '--spiffe-id='], { positionals: ['token', 'create'], options: { 'spiffe-id': [''] } }],
  ])('%j', (argv, expected) => {
    expect(parsed(...argv)).toEqual(expected);
  });

  it('an option without a value is a usage error naming it', () => {
    expect(() => parsed('token', 'create', '--ttl')).toThrow(new UsageError('--ttl needs a value'));
    expect(() => parsed('token', 'create', '--ttl', '--json')).toThrow(new UsageError('--ttl needs a value'));
  });

  it('allowOptions rejects an option the command does not take, listing the ones it does', () => {
    expect(() => allowOptions(parseArgs(['entry', 'list', '--parent', 'x']), ['socket', 'parent-id'])).toThrow(
      new UsageError('unknown option --parent (this command takes: --socket, --parent-id)'),
    );
  });

  it('operand is the command\'s third word, or a usage error', () => {
    expect(operand(parseArgs(['entry', 'delete', 'e-1']), 'meshid entry delete <id>')).toBe('e-1');
    expect(() => operand(parseArgs(['entry', 'delete']), 'meshid entry delete <id>')).toThrow(new UsageError('usage: meshid entry delete <id>'));
  });
});
