import { describe, expect, it } from 'vitest';
import { RequestHead, trailerProblem } from './request-head.js';

function head(fields: Array<[string, string]>): RequestHead {
  const h = new RequestHead();
  for (const [name, value] of fields) h.add(name, value);
  h.complete();
  return h;
}

const PSEUDO: Array<[string, string]> = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/test.Echo/Reverse'],
  [':authority', 'localhost'],
];

describe('RequestHead', () => {
  it('collects a gRPC request: pseudo-headers, content-type and grpc-timeout apart, the rest as metadata', () => {
    const h = head([...PSEUDO, ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', '200m'], ['x-a', '1'], ['x-a', '2']]);
    expect(h.malformed).toBe('');
    expect([h.method, h.scheme, h.path, h.contentType, h.timeoutMs]).toEqual(['POST', 'http', '/test.Echo/Reverse', 'application/grpc', 200]);
    expect({ ...h.metadata }).toEqual({ te: 'trailers', 'grpc-timeout': '200m', 'x-a': '1, 2' });
  });

  it('keeps metadata prototype-free: __proto__ and constructor are plain entries', () => {
    const h = head([...PSEUDO, ['__proto__', 'polluted'], ['constructor', 'c1'], ['constructor', 'c2'], ['hasownproperty', 'x']]);
    expect(h.malformed).toBe('');
    expect(Object.getPrototypeOf(h.metadata)).toBeNull();
    expect(Object.keys(h.metadata)).toEqual(['__proto__', 'constructor', 'hasownproperty']);
    expect(h.metadata['__proto__']).toBe('polluted');
    expect(h.metadata['constructor']).toBe('c1, c2');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('marks a malformed grpc-timeout as NaN, and its absence as Infinity', () => {
    expect(head([...PSEUDO, ['grpc-timeout', '1.5S']]).timeoutMs).toBeNaN();
    expect(head(PSEUDO).timeoutMs).toBe(Infinity);
  });

  it.each<[string, Array<[string, string]>, RegExp]>([
    ['an upper-case name', [...PSEUDO, ['X-Upper', 'v']], /upper-case/],
    ['a name with a space', [...PSEUDO, ['x y', 'v']], /not allowed in names/],
    ['a colon inside a name', [...PSEUDO, ['x:y', 'v']], /not allowed in names/],
    ['an empty name', [...PSEUDO, ['', 'v']], /empty header name/],
    ['a value with CR LF', [...PSEUDO, ['x-v', 'a\r\nx-injected: 1']], /NUL, CR or LF/],
    ['a value with NUL', [...PSEUDO, ['x-v', 'a\0b']], /NUL, CR or LF/],
    ['a value with a leading space', [...PSEUDO, ['x-v', ' a']], /leading or trailing whitespace/],
    ['a value with a trailing tab', [...PSEUDO, ['x-v', 'a\t']], /leading or trailing whitespace/],
    ['a connection-specific header', [...PSEUDO, ['transfer-encoding', 'chunked']], /connection-specific header transfer-encoding/],
    ['te other than trailers', [...PSEUDO, ['te', 'gzip']], /te header other than "trailers"/],
    ['a bad content-length', [...PSEUDO, ['content-length', '12a']], /invalid content-length/],
    ['conflicting content-lengths', [...PSEUDO, ['content-length', '1'], ['content-length', '2']], /invalid content-length/],
    ['a pseudo-header after a regular header', [[':method', 'POST'], ['x-a', '1'], [':path', '/p'], [':scheme', 'http']], /pseudo-header after a regular header/],
    ['an unknown pseudo-header', [...PSEUDO, [':protocol', 'websocket']], /unknown or response pseudo-header/],
    ['a response pseudo-header', [...PSEUDO, [':status', '200']], /unknown or response pseudo-header/],
    ['a duplicate :path', [...PSEUDO, [':path', '/other']], /duplicate :path/],
    ['no :method', PSEUDO.slice(1), /without :method/],
    ['no :scheme', PSEUDO.filter(([n]) => n !== ':scheme'), /without :scheme/],
    ['an empty :path', [[':method', 'POST'], [':scheme', 'http'], [':path', '']], /without :path, or with an empty one/],
  ])('finds %s malformed, without quoting the value', (_name, fields, reason) => {
    const h = head(fields);
    expect(h.malformed).toMatch(reason);
    expect(h.malformed).not.toMatch(/injected|websocket|chunked|gzip|12a/);
  });

  it('accepts CONNECT without :scheme and :path (answered 405 like any other non-POST)', () => {
    expect(head([[':method', 'CONNECT'], [':authority', 'example.com:443']]).malformed).toBe('');
  });
});

describe('trailerProblem', () => {
  it('rejects pseudo-headers and invalid fields in trailers', () => {
    expect(trailerProblem('x-checksum', 'abc')).toBe('');
    expect(trailerProblem(':status', '200')).toBe('pseudo-header in trailers');
    expect(trailerProblem('X-Upper', 'v')).toMatch(/upper-case/);
  });
});
