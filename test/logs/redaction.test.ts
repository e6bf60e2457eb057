import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { MeshidError } from '../../core/errors.js';
import { toServiceError } from '../../core/grpc-errors.js';
import { createLogger } from '../../core/log.js';
import { isSecretField, redactFields, redactSecretValues } from '../../core/redact.js';
import { secretShapesIn } from './secret-shapes.js';

const JOIN_TOKEN = `mjt1.0123456789abcdef.${'A1b2_C3d-'.repeat(4)}xyz1234`;
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

/** Every line a logger writes, parsed. */
function capturingLogger() {
  const lines: string[] = [];
  const log = createLogger({ name: 'test', level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { log, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('secret field names', () => {
  it.each([
    'authorization', 'Authorization', 'AUTHORIZATION', 'proxy-authorization', 'token', 'Token', 'joinToken', 'join_token',
    'k8s_token', 'bearerToken', 'accessToken', 'id_token', 'refresh-token', 'secret', 'clientSecret', 'client_secret',
    'password', 'Password', 'passwd', 'key', 'Key', 'privateKey', 'private_key', 'PrivateKey', 'apiKey', 'x-api-key', 'csr',
    'CSR', 'cookie', 'Cookie', 'set-cookie', 'connectionString', 'connection_string',
  ])('%s is censored', (name) => {
    expect(isSecretField(name)).toBe(true);
  });

  it.each([
    'keyId', 'kid', 'keyAlgorithm', 'keyPath', 'keys', 'publicKey', 'publicKeyPem', 'monkey', 'tokenId', 'tokenHash',
    'tokenFile', 'tokens', 'secretName', 'passwordFile', 'spiffeId', 'serial', 'attestor', 'authorizationPolicy',
    'connectionStringFile',
  ])('%s stays readable', (name) => {
    expect(isSecretField(name)).toBe(false);
  });
});

describe('redactFields', () => {
  it.each<[string, unknown, unknown]>([
    ['top level', { token: 't', spiffeId: 'spiffe://td/a' }, { token: '[redacted]', spiffeId: 'spiffe://td/a' }],
    ['nested at depth 5', { a: { b: { c: { d: { Authorization: 'x', kid: 'k' } } } } }, { a: { b: { c: { d: { Authorization: '[redacted]', kid: 'k' } } } } }],
    ['in arrays', { calls: [{ headers: { authorization: 'x' } }, { tokenId: 'id' }] }, { calls: [{ headers: { authorization: '[redacted]' } }, { tokenId: 'id' }] }],
    ['whole object values', { privateKey: { kty: 'EC', d: 'xyz' } }, { privateKey: '[redacted]' }],
    ['null and undefined stay (they show absence)', { token: null, secret: undefined }, { token: null, secret: undefined }],
    ['past the depth pino serialises', { a: { b: { c: { d: { e: { f: { g: { h: { token: 'x' } } } } } } } } }, { a: { b: { c: { d: { e: { f: { g: { h: '[Object]' } } } } } } } }],
  ])('%s', (_name, input, expected) => {
    expect(redactFields(input)).toEqual(expected);
  });

  it('returns the very same object when nothing is secret, and never modifies its input', () => {
    const clean = { spiffeId: 'spiffe://td/a', notAfter: new Date(0), der: Buffer.from('x'), list: [1, 'two', { keyId: 'k' }] };
    expect(redactFields(clean)).toBe(clean);
    const input = { nested: { joinToken: 'x' } };
    expect(redactFields(input)).toEqual({ nested: { joinToken: '[redacted]' } });
    expect(input.nested.joinToken).toBe('x');
  });

  it('walks what toJSON returns (gRPC metadata), and survives a toJSON that throws', () => {
    const metadata = new Metadata();
    metadata.add('authorization', 'Bearer abc');
    metadata.add('x-request-id', 'r1');
    const broken = { toJSON: () => { throw new Error('cannot'); } };
    expect(redactFields({ metadata, broken })).toEqual({ metadata: { authorization: '[redacted]', 'x-request-id': ['r1'] }, broken: '[toJSON failed]' });
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { name: 'a', token: 't' };
    a.self = a;
    a.list = [a];
    expect(redactFields(a)).toEqual({ name: 'a', token: '[redacted]', self: '[Circular]', list: ['[Circular]'] });
  });

  it('reduces errors anywhere to type, message, code, reason, stack and cause', () => {
    const cause = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', config: { headers: { 'X-Vault-Token': 'hvs.x' } } });
    const err = Object.assign(new MeshidError('UNAVAILABLE', 'upstream failed', 'upstream_unavailable'), {
      cause,
      request: { headers: { Authorization: 'x' } },
      response: { body: 'y' },
    });
    const expected = {
      type: 'MeshidError',
      message: 'upstream failed',
      code: 'UNAVAILABLE',
      reason: 'upstream_unavailable',
      stack: err.stack,
      cause: { type: 'Error', message: 'socket hang up', code: 'ECONNRESET', stack: cause.stack },
    };
    expect(redactFields<unknown>({ deep: { list: [err] } })).toEqual({ deep: { list: [expected] } });
  });
});

describe('redactSecretValues', () => {
  const json = (value: string) => JSON.stringify({ msg: value });
  it.each<[string, string, string]>([
    ['PKCS#8 key', PEM_KEY, '[redacted private key]\n'],
    ['EC key inside text', `key: -----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY----- end`, 'key: [redacted private key] end'],
    ['encrypted key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----', '[redacted private key]'],
    ['truncated key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow', '[redacted private key]'],
    ['JWT', `token ${JWT} rejected`, 'token [redacted JWT] rejected'],
    ['join token keeps its public id', `used ${JOIN_TOKEN}.`, 'used mjt1.0123456789abcdef.[redacted].'],
    ['Bearer credential', `authorization: Bearer abc.def-ghi~jkl/mno+pq==`, 'authorization: Bearer [redacted]'],
    ['lower-case bearer', 'bearer s3cr3t', 'bearer [redacted]'],
    ['Bearer with a JWT', `Bearer ${JWT}`, 'Bearer [redacted]'],
  ])('%s', (_name, input, expected) => {
    expect(JSON.parse(redactSecretValues(json(input)))).toEqual({ msg: expected });
  });

  it.each([
    ['certificates', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'],
    ['help texts', 'send "authorization: Bearer <service-account token>"'],
    ['the join-token format description', 'expected mjt1.<16 hex digits>.<43 base64url characters>'],
    ['a join token id alone', 'join token 0123456789abcdef revoked'],
    ['SPIFFE IDs and serials', 'issued spiffe://td/ns/a/sa/b serial 5f1c0b6a'],
  ])('leaves %s alone', (_name, text) => {
    expect(redactSecretValues(json(text))).toBe(json(text));
  });

  it('is idempotent', () => {
    const once = redactSecretValues(json(`${PEM_KEY} ${JWT} ${JOIN_TOKEN} Bearer x`));
    expect(redactSecretValues(once)).toBe(once);
  });
});

describe('createLogger', () => {
  it('writes no secret shape from fields, messages, errors or child bindings, and keeps the rest readable', () => {
    const { log, lines, entries } = capturingLogger();
    const child = log.child({ upstream: 'vault', vaultToken: 'hvs.CAESIJ' });
    const err = new Error(`attestation failed for ${JOIN_TOKEN} with Bearer ${JWT}`);
    child.error({ err, tokenId: '0123456789abcdef', keyPath: '/keys/a.pem', req: { metadata: { Authorization: `Bearer ${JWT}` } } }, `key ${PEM_KEY}`);
    log.warn(err);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(secretShapesIn(line)).toEqual([]);
    const [first, second] = entries();
    expect(first).toMatchObject({
      upstream: 'vault',
      vaultToken: '[redacted]',
      tokenId: '0123456789abcdef',
      keyPath: '/keys/a.pem',
      req: { metadata: { Authorization: '[redacted]' } },
      msg: 'key [redacted private key]\n',
      err: { type: 'Error', message: 'attestation failed for mjt1.0123456789abcdef.[redacted] with Bearer [redacted]' },
    });
    expect((first!.err as { stack: string }).stack).toMatch(/^Error: attestation failed for mjt1\.0123456789abcdef\.\[redacted\] with Bearer \[redacted\]\n\s+at /);
    expect(second).toMatchObject({ msg: 'attestation failed for mjt1.0123456789abcdef.[redacted] with Bearer [redacted]' });
  });

  it('logs an unexpected handler error without the request, config, body or response it carries', () => {
    const { log, lines, entries } = capturingLogger();
    // The shape of @kubernetes/client-node and node-vault errors: the whole HTTP exchange hangs on them.
    const err = Object.assign(new Error('Request failed with status code 500'), {
      code: 'ERR_BAD_RESPONSE',
      config: { url: 'https://vault:8200/v1/pki/sign', headers: { 'X-Vault-Token': 'hvs.CAESIJ' }, data: 'csr=BODY-MARKER-4711' },
      request: { headers: { Authorization: 'Basic dXNlcjpwYXNz' }, body: 'BODY-MARKER-4711' },
      body: { password: 'hunter2', note: 'BODY-MARKER-4711' },
      response: { status: 500, headers: { 'set-cookie': 'session=abc' }, data: 'BODY-MARKER-4711' },
    });
    expect(toServiceError(err, log, 'CreateCertificate')).toMatchObject({ details: 'internal error in CreateCertificate; see the server log' });
    expect(lines.join('')).not.toMatch(/BODY-MARKER|hvs\.|dXNlcjpwYXNz|hunter2|session=/);
    expect(entries()[0]).toEqual({
      level: 50,
      time: expect.any(Number),
      pid: process.pid,
      hostname: expect.any(String),
      name: 'test',
      method: 'CreateCertificate',
      err: { type: 'Error', message: 'Request failed with status code 500', code: 'ERR_BAD_RESPONSE', stack: err.stack },
      msg: 'unexpected error in handler',
    });
  });
});
