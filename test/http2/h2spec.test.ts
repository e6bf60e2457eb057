// h2spec (the HTTP/2 conformance suite, every case including the --strict ones) against the lean unary
// gRPC server over h2c with prior knowledge. Every case must pass: none is excluded. h2spec's requests
// (GET / without a content-type) get HTTP 405 with a text body, which is what its flow-control and
// stream-state cases need to see.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createUnaryGrpcServer, type UnaryGrpcServer } from '../../core/http2/grpc-unary-server.js';
import { requirePeer } from '../peers/peers.js';

const run = promisify(execFile);

/** Cases in h2spec v2.2.1 with --strict (test/interop/h2spec/go.mod pins it). */
const H2SPEC_CASES = 146;

interface CaseResult {
  id: string;
  description: string;
  /** The failure or error text; undefined when the case passed. */
  failure?: string;
  skipped: boolean;
}

/** Cases of h2spec's JUnit report; the id numbers cases within a suite, as h2spec's own output does. */
function parseJUnit(xml: string): CaseResult[] {
  const results: CaseResult[] = [];
  const unescape = (s: string) => s.replace(/&#xA;/g, '\n').replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  for (const suite of xml.matchAll(/<testsuite\b[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    let seq = 0;
    for (const testCase of suite[1]!.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const attributes = testCase[1]!;
      const body = testCase[2] ?? '';
      const pkg = /package="([^"]*)"/.exec(attributes)?.[1] ?? '?';
      const failure = /<(?:failure|error)>([\s\S]*?)<\/(?:failure|error)>/.exec(body)?.[1];
      results.push({
        id: `${pkg}/${++seq}`,
        description: unescape(/classname="([^"]*)"/.exec(attributes)?.[1] ?? ''),
        failure: failure === undefined ? undefined : unescape(failure),
        skipped: body.includes('<skipped'),
      });
    }
  }
  return results;
}

let dir: string;
let server: UnaryGrpcServer;
let listener: net.Server;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshid-h2spec-'));
  server = createUnaryGrpcServer({
    log: pino({ level: 'silent' }),
    handlers: new Map([['/test.Echo/Reverse', (call) => Buffer.from(call.message).reverse()]]),
  });
  listener = net.createServer((socket) => server.accept(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
});

afterAll(async () => {
  listener.close();
  await server.close(1000);
  rmSync(dir, { recursive: true, force: true });
});

it('passes every h2spec case, strict ones included', async () => {
  const report = path.join(dir, 'report.xml');
  // h2spec exits non-zero when a case fails; the report says which.
  await run(requirePeer('h2spec'), ['--strict', '-h', '127.0.0.1', '-p', String(port), '-o', '2', '-j', report], { timeout: 240_000 }).catch(
    (err: { code?: unknown; stdout?: string }) => {
      if (typeof err.code !== 'number') throw err;
    },
  );
  const results = parseJUnit(readFileSync(report, 'utf8'));
  expect(results.length).toBe(H2SPEC_CASES);
  expect(results.filter((r) => r.failure !== undefined).map((r) => `${r.id} ${r.description}\n${r.failure}`)).toEqual([]);
  // A skipped case proves nothing (h2spec skips e.g. flow-control cases when responses carry no DATA).
  expect(results.filter((r) => r.skipped).map((r) => r.id)).toEqual([]);
}, 300_000);
