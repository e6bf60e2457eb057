// go-spiffe v2 (the reference client library) against the agent's Workload API on real VM workload
// sockets, run as the workload's own uid so the kernel, not the test, decides who may connect.
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshidError } from '../../../core/errors.js';
import type { SpiffeWorkloadAPIClient } from '../../../protos/gen/SpiffeWorkloadAPI.js';
import type { ValidateJWTSVIDRequest } from '../../../protos/gen/ValidateJWTSVIDRequest.js';
import type { ValidateJWTSVIDResponse__Output } from '../../../protos/gen/ValidateJWTSVIDResponse.js';
import { requirePeer } from '../../peers/peers.js';
import { startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { TRUST_DOMAIN } from './support/ca-identity-source.js';
import { firstMessages, unaryCall, workloadClient, workloadMetadata } from './support/clients.js';

const run = promisify(execFile);
const WEB = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;
const WEB_ADMIN = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web-admin`;
const AUDIENCE = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/db`;
const WEB_UID = 1201;
const OTHER_UID = 1202;
const NOBODY_UID = 1203;

interface ClientFailure {
  code: number | undefined;
  report: { error: string; grpc_code?: string };
}

describe('go-spiffe client against the agent\'s Workload API', () => {
  let agent: AgentFixture;
  let webSocket: string;

  /** Runs go-spiffe-client as `uid` (gid = uid) against `socket`. */
  const goSpiffe = (uid: number, socket: string, ...args: string[]) =>
    run(requirePeer('go-spiffe-client'), [...args, '-socket', `unix://${socket}`, '-timeout', '10s'], { uid, gid: uid });
  const goSpiffeFailure = (uid: number, socket: string, ...args: string[]) =>
    goSpiffe(uid, socket, ...args).then(
      ({ stdout }): ClientFailure => {
        throw new Error(`go-spiffe-client ${args.join(' ')} succeeded: ${stdout}`);
      },
      (err: { code?: number; stderr?: string }): ClientFailure => ({ code: err.code, report: JSON.parse(err.stderr ?? '') as ClientFailure['report'] }),
    );
  const serial = (der: Buffer) => BigInt(`0x${new X509Certificate(der).serialNumber}`).toString(16);

  beforeAll(async () => {
    requirePeer('go-spiffe-client');
    agent = await startAgentFixture();
    agent.source.register({ selectors: [`unix:uid:${WEB_UID}`] }, [WEB, WEB_ADMIN]);
    agent.source.setFederatedBundle('spiffe://partner.test', agent.source.ownBundle().rootsDer);
    await agent.endpoints.update([[`unix:uid:${WEB_UID}`], [`unix:uid:${NOBODY_UID}`]]);
    webSocket = agent.endpoints.socketPath([`unix:uid:${WEB_UID}`]);
  });

  afterAll(async () => {
    await agent?.close();
  });

  it('fetches the X.509 context: default SVID first, chains verified by go-spiffe, federated bundles', async () => {
    const { stdout } = await goSpiffe(WEB_UID, webSocket, 'x509');
    const svids = await agent.source.x509Svids({ kind: 'unix', selectors: [`unix:uid:${WEB_UID}`] });
    expect(JSON.parse(stdout)).toMatchObject({
      spiffe_id: WEB,
      svids: [
        { spiffe_id: WEB, chain_length: 2, leaf_serial: serial(svids[0]!.chainDer[0]!) },
        { spiffe_id: WEB_ADMIN, chain_length: 2, leaf_serial: serial(svids[1]!.chainDer[0]!) },
      ],
      bundle_trust_domains: ['meshid.test', 'partner.test'],
    });
  });

  it('receives every rotation on an open FetchX509SVID stream', async () => {
    const child = spawn(requirePeer('go-spiffe-client'), ['x509-watch', '-count', '2', '-socket', `unix://${webSocket}`, '-timeout', '20s'], {
      uid: WEB_UID,
      gid: WEB_UID,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => {
      const line = await lines.next();
      if (line.done) throw new Error(`go-spiffe-client stopped: ${stderr}`);
      return JSON.parse(line.value) as { svids: { leaf_serial: string }[] };
    };
    const first = await next();
    await agent.source.rotate();
    const second = await next();
    const rotated = await agent.source.x509Svids({ kind: 'unix', selectors: [`unix:uid:${WEB_UID}`] });
    expect(second.svids[0]!.leaf_serial).not.toBe(first.svids[0]!.leaf_serial);
    expect(second.svids.map((s) => s.leaf_serial)).toEqual(rotated.map((s) => serial(s.chainDer[0]!)));
  });

  it('fetches a CA-signed JWT-SVID, has the agent validate it and verifies it against the JWT bundle', async () => {
    const { stdout } = await goSpiffe(WEB_UID, webSocket, 'jwt', '-audience', AUDIENCE);
    expect(JSON.parse(stdout)).toMatchObject({
      spiffe_id: WEB,
      audience: [AUDIENCE],
      claims: { sub: WEB, aud: [AUDIENCE], exp: expect.any(Number) },
    });
  });

  it('fetches the JWT-SVID of a named identity', async () => {
    const { stdout } = await goSpiffe(WEB_UID, webSocket, 'jwt', '-audience', AUDIENCE, '-spiffe-id', WEB_ADMIN);
    expect(JSON.parse(stdout)).toMatchObject({ spiffe_id: WEB_ADMIN });
  });

  it('serves JWT bundles with only the JWT keys, by trust domain', async () => {
    const { stdout } = await goSpiffe(WEB_UID, webSocket, 'jwt-bundles');
    const kids = agent.source.ca.bundle().jwtAuthorities.map((a) => a.keyId).sort();
    expect(kids.length).toBeGreaterThan(0);
    expect(JSON.parse(stdout)).toEqual({
      bundles: [
        { trust_domain: 'meshid.test', key_ids: kids },
        { trust_domain: 'partner.test', key_ids: [] },
      ],
    });
  });

  it('rejects tokens that are not valid for the audience with InvalidArgument', async () => {
    const garbage = await goSpiffeFailure(WEB_UID, webSocket, 'jwt-validate', '-audience', AUDIENCE, '-token', 'not.a.jwt');
    expect(garbage).toMatchObject({ code: 1, report: { grpc_code: 'InvalidArgument' } });

    const [svid] = await agent.source.jwtSvids({ kind: 'unix', selectors: [`unix:uid:${WEB_UID}`] }, ['spiffe://meshid.test/other']);
    const wrongAudience = await goSpiffeFailure(WEB_UID, webSocket, 'jwt-validate', '-audience', AUDIENCE, '-token', svid!.token);
    expect(wrongAudience).toMatchObject({ code: 1, report: { grpc_code: 'InvalidArgument', error: expect.stringContaining('aud') } });
    expect(decodeProtectedHeader(svid!.token)).toMatchObject({ alg: 'ES256', kid: expect.any(String), typ: 'JWT' });
  });

  it('keeps other users out of a uid\'s socket: the kernel refuses the connection', async () => {
    const failure = await goSpiffeFailure(OTHER_UID, webSocket, 'x509');
    expect(failure.report.error).toMatch(/permission denied/);
  });

  it('answers PermissionDenied to a caller no identity is registered for', async () => {
    const failure = await goSpiffeFailure(NOBODY_UID, agent.endpoints.socketPath([`unix:uid:${NOBODY_UID}`]), 'x509');
    expect(failure).toMatchObject({ code: 1, report: { grpc_code: 'PermissionDenied' } });
  });
});

describe('Workload API error codes (grpc-js client)', () => {
  let agent: AgentFixture;
  let web: SpiffeWorkloadAPIClient;
  let nobody: SpiffeWorkloadAPIClient;

  beforeAll(async () => {
    agent = await startAgentFixture();
    agent.source.register({ selectors: ['unix:uid:1301'] }, [WEB]);
    await agent.endpoints.update([['unix:uid:1301'], ['unix:uid:1302']]);
    web = workloadClient(agent.endpoints.socketPath(['unix:uid:1301']));
    nobody = workloadClient(agent.endpoints.socketPath(['unix:uid:1302']));
  });

  afterAll(async () => {
    web?.close();
    nobody?.close();
    await agent?.close();
  });

  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => 'OK',
      (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
    );

  it('answers every RPC without the security header with InvalidArgument', async () => {
    const bare = workloadMetadata({}, false);
    const results = await Promise.all([
      code(firstMessages(web.FetchX509SVID({}, bare))),
      code(firstMessages(web.FetchX509Bundles({}, bare))),
      code(firstMessages(web.FetchJWTBundles({}, bare))),
      code(unaryCall(web.FetchJWTSVID.bind(web), { audience: [AUDIENCE] }, bare)),
      code(unaryCall(web.ValidateJWTSVID.bind(web), { audience: AUDIENCE, svid: 'x' }, bare)),
    ]);
    for (const result of results) expect(result).toMatch(/^INVALID_ARGUMENT: security header missing from request/);
  });

  it('answers every RPC from a caller without identity with PermissionDenied', async () => {
    const md = workloadMetadata();
    const results = await Promise.all([
      code(firstMessages(nobody.FetchX509SVID({}, md))),
      code(firstMessages(nobody.FetchX509Bundles({}, md))),
      code(firstMessages(nobody.FetchJWTBundles({}, md))),
      code(unaryCall(nobody.FetchJWTSVID.bind(nobody), { audience: [AUDIENCE] }, md)),
      code(unaryCall(nobody.ValidateJWTSVID.bind(nobody), { audience: AUDIENCE, svid: 'x' }, md)),
    ]);
    for (const result of results) expect(result).toMatch(/^PERMISSION_DENIED: /);
  });

  it('requires an audience for JWT-SVIDs', async () => {
    expect(await code(unaryCall(web.FetchJWTSVID.bind(web), { audience: [] }, workloadMetadata()))).toMatch(/^INVALID_ARGUMENT: audience is required/);
    expect(await code(unaryCall(web.ValidateJWTSVID.bind(web), { audience: '', svid: 'x' }, workloadMetadata()))).toMatch(/^INVALID_ARGUMENT: audience is required/);
  });

  it('answers Unavailable while the agent cannot serve, then recovers', async () => {
    agent.source.failLookups(new MeshidError('UNAVAILABLE', 'no SVID yet: the CA is unreachable'));
    expect(await code(firstMessages(web.FetchX509SVID({}, workloadMetadata())))).toBe('UNAVAILABLE: no SVID yet: the CA is unreachable');
    agent.source.failLookups(undefined);
    const [message] = await firstMessages(web.FetchX509SVID({}, workloadMetadata()));
    expect(message!.svids.map((s) => s.spiffe_id)).toEqual([WEB]);
  });

  it('validates a JWT-SVID and returns its claims as a Struct', async () => {
    const [svid] = await agent.source.jwtSvids({ kind: 'unix', selectors: ['unix:uid:1301'] }, [AUDIENCE, 'other']);
    const response = await unaryCall<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse__Output>(
      web.ValidateJWTSVID.bind(web),
      { audience: AUDIENCE, svid: svid!.token },
      workloadMetadata(),
    );
    expect(response.spiffe_id).toBe(WEB);
    const fields = response.claims!.fields;
    expect(fields['sub']).toMatchObject({ stringValue: WEB });
    expect(fields['aud']!.listValue!.values.map((v) => v.stringValue)).toEqual([AUDIENCE, 'other']);
    expect(fields['exp']!.numberValue).toBe(Math.floor(svid!.expiresAt.getTime() / 1000));
  });

  it('counts calls by RPC and result', async () => {
    expect(await agent.metric('meshid_agent_workload_api_calls_total', { rpc: 'FetchX509SVID', result: 'invalid_argument' })).toBe(1);
    expect(await agent.metric('meshid_agent_workload_api_calls_total', { rpc: 'FetchX509SVID', result: 'permission_denied' })).toBe(1);
    expect(await agent.metric('meshid_agent_workload_api_calls_total', { rpc: 'ValidateJWTSVID', result: 'ok' })).toBe(1);
  });
});
