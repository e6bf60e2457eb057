// The go-spiffe v2 test client against a minimal Workload API served from protos/spiffe/workload.proto:
// proves the proto is wire-compatible with go-spiffe, that go-spiffe sends the `workload.spiffe.io`
// header, and that the client really verifies what it is given (interop tests rely on all three).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair, privateKeyToPkcs8Der } from '../../core/x509/keys.js';
import { loadProto } from '../../protos/load.js';
import { requirePeer } from './peers.js';
import {
  issueLeafSvid,
  newIntermediateAuthority,
  newRootAuthority,
  serialAsGoHex,
  type Authority,
  type LeafSvid,
} from './svid-fixtures.js';

const run = promisify(execFile);
const TRUST_DOMAIN = TrustDomain.parse('example.org');
const WORKLOAD_ID = 'spiffe://example.org/ns/default/sa/web';
const JWT_KID = 'kid-1';

/** An X509SVID message for `leaf` (chain leaf-first up to `issuer`), with `bundle` as trust bundle. */
function x509SvidMessage(leaf: LeafSvid, issuer: Authority, bundle: Authority) {
  return {
    spiffe_id: WORKLOAD_ID,
    x509_svid: Buffer.concat([Buffer.from(leaf.certificate.rawData), Buffer.from(issuer.certificate.rawData)]),
    x509_svid_key: privateKeyToPkcs8Der(leaf.keys.privateKey),
    bundle: Buffer.from(bundle.certificate.rawData),
    hint: 'internal',
  };
}

describe('go-spiffe-client against protos/spiffe/workload.proto', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-wlapi-'));
  const socket = `unix://${path.join(dir, 'workload.sock')}`;
  const server = new grpc.Server();
  const headers: string[][] = [];
  const jwtKeys = generateKeyPair();
  // Each FetchX509SVID stream is sent these responses at once (a rotation when there are two).
  let x509Updates: ReturnType<typeof x509SvidMessage>[][] = [];

  const client = (...args: string[]) => run(requirePeer('go-spiffe-client'), [...args, '-socket', socket, '-timeout', '10s']);
  const clientFailure = (...args: string[]) =>
    client(...args).then(
      () => {
        throw new Error(`go-spiffe-client ${args.join(' ')} succeeded`);
      },
      (err: { code?: number; stderr?: string }) => ({ code: err.code, report: JSON.parse(err.stderr ?? '') as Record<string, string> }),
    );

  beforeAll(async () => {
    const api = loadProto<{ SpiffeWorkloadAPI: grpc.ServiceClientConstructor }>('spiffe/workload.proto');
    const recordHeader = (metadata: grpc.Metadata) => headers.push(metadata.get('workload.spiffe.io').map(String));
    const jwks = { keys: [{ ...(await exportJWK(jwtKeys.publicKey)), kid: JWT_KID, use: 'jwt-svid' }] };

    server.addService(api.SpiffeWorkloadAPI.service, {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        recordHeader(call.metadata);
        for (const svids of x509Updates) call.write({ svids });
      },
      FetchJWTSVID: (
        call: grpc.ServerUnaryCall<{ audience: string[] }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        recordHeader(call.metadata);
        if (call.request.audience.includes('nobody-may-call')) {
          callback({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued for this caller' });
          return;
        }
        new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: JWT_KID, typ: 'JWT' })
          .setSubject(WORKLOAD_ID)
          .setAudience(call.request.audience)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(jwtKeys.privateKey)
          .then((svid) => callback(null, { svids: [{ spiffe_id: WORKLOAD_ID, svid }] }), callback);
      },
      FetchJWTBundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        recordHeader(call.metadata);
        call.write({ bundles: { [TRUST_DOMAIN.id]: Buffer.from(JSON.stringify(jwks)) } });
      },
      ValidateJWTSVID: (
        call: grpc.ServerUnaryCall<{ audience: string; svid: string }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        recordHeader(call.metadata);
        jwtVerify(call.request.svid, jwtKeys.publicKey, { audience: call.request.audience }).then(
          ({ payload }) => callback(null, { spiffe_id: payload.sub, claims: { fields: {} } }),
          (err: Error) => callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message }),
        );
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(socket, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  });

  afterAll(() => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches the X.509 context and verifies the chain through an intermediate', async () => {
    const root = await newRootAuthority(TRUST_DOMAIN);
    const intermediate = await newIntermediateAuthority(root, TRUST_DOMAIN);
    const leaf = await issueLeafSvid(intermediate, WORKLOAD_ID);
    x509Updates = [[x509SvidMessage(leaf, intermediate, root)]];

    const { stdout } = await client('x509');
    expect(JSON.parse(stdout)).toEqual({
      spiffe_id: WORKLOAD_ID,
      svids: [
        {
          spiffe_id: WORKLOAD_ID,
          hint: 'internal',
          chain_length: 2,
          leaf_serial: serialAsGoHex(leaf.certificate),
          leaf_not_after: leaf.certificate.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
      ],
      bundle_trust_domains: ['example.org'],
    });
  });

  it('rejects an SVID that does not chain to the served bundle', async () => {
    const root = await newRootAuthority(TRUST_DOMAIN);
    const stranger = await newRootAuthority(TRUST_DOMAIN, 'O=elsewhere, CN=other root');
    const intermediate = await newIntermediateAuthority(root, TRUST_DOMAIN);
    x509Updates = [[x509SvidMessage(await issueLeafSvid(intermediate, WORKLOAD_ID), intermediate, stranger)]];

    const failure = await clientFailure('x509');
    expect(failure.code).toBe(1);
    expect(failure.report['error']).toMatch(/does not verify against the bundles/);
  });

  it('prints one verified line per pushed update (rotation)', async () => {
    const root = await newRootAuthority(TRUST_DOMAIN);
    const intermediate = await newIntermediateAuthority(root, TRUST_DOMAIN);
    const first = await issueLeafSvid(intermediate, WORKLOAD_ID);
    const rotated = await issueLeafSvid(intermediate, WORKLOAD_ID);
    x509Updates = [[x509SvidMessage(first, intermediate, root)], [x509SvidMessage(rotated, intermediate, root)]];

    const { stdout } = await client('x509-watch', '-count', '2');
    const serials = stdout.trim().split('\n').map((line) => (JSON.parse(line) as { svids: { leaf_serial: string }[] }).svids[0]!.leaf_serial);
    expect(serials).toEqual([serialAsGoHex(first.certificate), serialAsGoHex(rotated.certificate)]);
  });

  it('fetches a JWT-SVID, has it validated by the API and verifies it against the JWT bundle', async () => {
    const { stdout } = await client('jwt', '-audience', 'spiffe://example.org/db');
    expect(JSON.parse(stdout)).toMatchObject({
      spiffe_id: WORKLOAD_ID,
      audience: ['spiffe://example.org/db'],
      claims: { sub: WORKLOAD_ID, aud: ['spiffe://example.org/db'] },
    });
  });

  it('lists the JWT bundle key IDs per trust domain', async () => {
    const { stdout } = await client('jwt-bundles');
    expect(JSON.parse(stdout)).toEqual({ bundles: [{ trust_domain: 'example.org', key_ids: [JWT_KID] }] });
  });

  it('surfaces the gRPC code of a refused call', async () => {
    const failure = await clientFailure('jwt', '-audience', 'nobody-may-call');
    expect(failure).toMatchObject({ code: 1, report: { grpc_code: 'PermissionDenied' } });
  });

  it('reports the API rejecting a token', async () => {
    const failure = await clientFailure('jwt-validate', '-audience', 'spiffe://example.org/db', '-token', 'not.a.jwt');
    expect(failure).toMatchObject({ code: 1, report: { grpc_code: 'InvalidArgument' } });
  });

  it('sent workload.spiffe.io: true on every call', () => {
    expect(headers.length).toBeGreaterThanOrEqual(7);
    expect(new Set(headers.map((h) => h.join(',')))).toEqual(new Set(['true']));
  });
});
