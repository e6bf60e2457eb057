import type { KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect } from 'vitest';
import { readCaServerConfig, type CaServerConfig } from '../../ca-server/config.js';
import { startCaServer, type CaServer } from '../../ca-server/server.js';
import { createLogger } from '../../core/log.js';
import { SpiffeId } from '../../core/spiffeid.js';
import { createCsrPem } from '../../core/x509/csr-request.js';
import { generateKeyPair, privateKeyToPem, type KeyAlgorithm } from '../../core/x509/keys.js';
import { pemToDers } from '../../core/x509/pem.js';
import type { ProtoGrpcType as AdminProto } from '../../protos/gen/admin.js';
import type { ProtoGrpcType as AgentProto } from '../../protos/gen/agent.js';
import type { ProtoGrpcType as IstioProto } from '../../protos/gen/ca.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import { loadProto } from '../../protos/load.js';
import { JwtIssuer, type ServiceAccountTokenOptions } from '../support/jwt-issuer.js';

/**
 * A real CA server started in-process on a temp data dir and free ports, with real gRPC/TLS clients and
 * its pino log captured in memory. Kubernetes attestation runs offline against a JWKS file (jwt) or is off;
 * TokenReview tests pass their own kubernetes config for a real API server (test/peers/kube-cluster.ts).
 * The jwt mode's tokens come from a test issuer (test/support/jwt-issuer.ts): these suites are about the CA's
 * APIs, not Kubernetes, and a per-suite API server would only add seconds; every Kubernetes path (TokenReview,
 * OIDC discovery, projected tokens) is covered against the real API server in test/kubernetes and
 * test/attestation.
 */

export const TRUST_DOMAIN = 'meshid.test';
export const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const AUDIENCE = 'meshid';

/** Everything the server logged, one JSON line per entry. */
export class LogCapture {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  text(): string {
    return this.lines.join('');
  }
  entries(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

export interface CaFixtureOptions {
  kubernetes?: 'jwt' | 'disabled';
  /** Reuse a data dir (restart tests); by default a fresh temp dir that close() removes. */
  dataDir?: string;
  /** Node agent service accounts ("namespace/name") trusted in jwt mode. */
  trustedNodeAccounts?: string[];
  /** Extra raw config merged over the fixture's (e.g. { svid: { maxTtl: '2h' } }). */
  config?: Record<string, unknown>;
  /** Share one log capture across restarts. */
  logs?: LogCapture;
}

/** TLS client credentials: the SVID chain (PEM, leaf first) and its key. */
export interface ClientIdentity {
  certChainPem: string;
  keyPem: string;
}

export class CaFixture {
  private serverClosed: Promise<void> | undefined;

  private constructor(
    readonly server: CaServer,
    readonly config: CaServerConfig,
    readonly dir: string,
    readonly logs: LogCapture,
    readonly jwt: JwtIssuer | undefined,
  ) {}

  static async start(options: CaFixtureOptions = {}): Promise<CaFixture> {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshid-ca-'));
    const dataDir = options.dataDir ?? path.join(dir, 'data');
    const mode = options.kubernetes ?? 'jwt';
    let jwt: JwtIssuer | undefined;
    let kubernetes: Record<string, unknown> = { mode: 'disabled' };
    if (mode === 'jwt') {
      jwt = await JwtIssuer.create({ issuer: K8S_ISSUER, alg: 'RS256' });
      const jwksFile = path.join(dir, 'jwks.json');
      await writeFile(jwksFile, JSON.stringify(jwt.jwks()));
      kubernetes = { mode: 'jwt', issuer: K8S_ISSUER, jwksFile, audiences: [AUDIENCE], trustedNodeAccounts: options.trustedNodeAccounts ?? [] };
    }
    const raw = {
      trustDomain: TRUST_DOMAIN,
      dataDir,
      logLevel: 'trace',
      listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'run', 'admin.sock') },
      kubernetes,
      ...options.config,
    };
    const config = readCaServerConfig(raw);
    const logs = options.logs ?? new LogCapture();
    const server = await startCaServer(config, createLogger({ name: 'meshid-ca', level: 'trace', destination: logs }));
    return new CaFixture(server, config, dir, logs, jwt);
  }

  get target(): string {
    return `127.0.0.1:${this.server.grpcPort}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.server.metricsPort}`;
  }

  bundlePem(): string {
    return this.server.bundle().toPem();
  }

  /** TLS trusting the CA bundle; with `identity`, mTLS presenting it. The CA's certificate names "localhost". */
  channelCredentials(identity?: ClientIdentity): grpc.ChannelCredentials {
    return grpc.credentials.createSsl(
      Buffer.from(this.bundlePem()),
      identity ? Buffer.from(identity.keyPem) : null,
      identity ? Buffer.from(identity.certChainPem) : null,
    );
  }

  /** istio-agent's shape: TLS plus a per-RPC `authorization: Bearer <token>` when `bearer` is given. */
  istioClient(options: { bearer?: () => string; identity?: ClientIdentity } = {}): IstioCertificateServiceClient {
    const proto = loadProto<IstioProto>('istio/v1/auth/ca.proto');
    let credentials = this.channelCredentials(options.identity);
    if (options.bearer) {
      const bearer = options.bearer;
      const perRpc = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new grpc.Metadata();
        metadata.add('authorization', `Bearer ${bearer()}`);
        callback(null, metadata);
      });
      credentials = grpc.credentials.combineChannelCredentials(credentials, perRpc);
    }
    return new proto.istio.v1.auth.IstioCertificateService(this.target, credentials, CLIENT_OPTIONS);
  }

  agentClient(identity?: ClientIdentity): NodeAgentServiceClient {
    const proto = loadProto<AgentProto>('meshid/v1/agent.proto');
    return new proto.meshid.v1.NodeAgentService(this.target, this.channelCredentials(identity), CLIENT_OPTIONS);
  }

  adminClient(): AdminServiceClient {
    const proto = loadProto<AdminProto>('meshid/v1/admin.proto');
    return new proto.meshid.v1.AdminService(`unix:${this.server.adminSocket}`, grpc.credentials.createInsecure());
  }

  /** A real projected service-account token, signed by the fixture's issuer (jwt mode). */
  saToken(namespace: string, serviceAccount: string, options: Partial<ServiceAccountTokenOptions> = {}): Promise<string> {
    if (!this.jwt) throw new Error('saToken needs kubernetes: "jwt"');
    return this.jwt.mintServiceAccountToken({ namespace, serviceAccount, audiences: [AUDIENCE], ...options });
  }

  /** Stops the server (once, however often called). */
  closeServer(): Promise<void> {
    return (this.serverClosed ??= this.server.close());
  }

  /** Stops the server and removes the fixture's temp dir (a data dir passed in options lives elsewhere). */
  async close(): Promise<void> {
    await this.closeServer();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A started CA with the two clients most suites need: the admin socket and an anonymous agent client. */
export interface CaWithClients {
  ca: CaFixture;
  admin: AdminServiceClient;
  anonymous: NodeAgentServiceClient;
}

/**
 * Starts a CA for the enclosing describe block (or file) before its tests, hands it to `started` (which
 * usually assigns the suite's own variables), and closes the clients and the CA after them.
 */
export function useCa(options: CaFixtureOptions, started: (running: CaWithClients) => void): void {
  let running: CaWithClients | undefined;
  beforeAll(async () => {
    const ca = await CaFixture.start(options);
    running = { ca, admin: ca.adminClient(), anonymous: ca.agentClient() };
    started(running);
  });
  afterAll(async () => {
    running?.admin.close();
    running?.anonymous.close();
    await running?.ca.close();
  });
}

const CLIENT_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': 'localhost' };

type Callback<Res> = (err: grpc.ServiceError | null, response?: Res) => void;
/** The last overload of a generated unary method: TypeScript infers Req and Res from it. */
type UnaryMethod<Req, Res> = (request: Req, callback: Callback<Res>) => grpc.ClientUnaryCall;
/** Another overload every generated unary method has. */
type UnaryWithMetadata<Req, Res> = (request: Req, metadata: grpc.Metadata, callback: Callback<Res>) => grpc.ClientUnaryCall;

/** One unary call as a promise, optionally with call metadata. */
export function rpc<Req, Res>(
  client: grpc.Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  const withMetadata = method as unknown as UnaryWithMetadata<Req, Res>;
  return new Promise((resolve, reject) => {
    withMetadata.call(client, request, metadata, (err, response) => (err ? reject(err) : resolve(response as Res)));
  });
}

/** Metadata carrying `authorization: <value>` (a full header value, e.g. "Bearer abc"). */
export function authorization(value: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.add('authorization', value);
  return metadata;
}

/** Awaits a call that must fail and returns its gRPC error. */
export async function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

/** Asserts a gRPC refusal: status code and a message matching `message`. */
export async function expectStatus(promise: Promise<unknown>, code: grpc.status, message: RegExp | string): Promise<grpc.ServiceError> {
  const err = await grpcError(promise);
  expect({ code: grpc.status[err.code], details: err.details }).toEqual({
    code: grpc.status[code],
    details: typeof message === 'string' ? message : expect.stringMatching(message),
  });
  return err;
}

/** A fresh key pair and its CSR (PEM) with an optional URI SAN. */
export async function newCsr(options: { spiffeId?: string; alg?: KeyAlgorithm } = {}): Promise<{ csr: string; privateKey: KeyObject; keyPem: string }> {
  const keys = generateKeyPair(options.alg ?? 'ec-p256');
  const csr = createCsrPem({ ...keys, spiffeId: options.spiffeId ? SpiffeId.parse(options.spiffeId) : undefined });
  return { csr, privateKey: keys.privateKey, keyPem: privateKeyToPem(keys.privateKey) };
}

/** The PEM certificates in a string, in order. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** The DER of the first PEM certificate in `pem`. */
export function pemToDer(pem: string): Buffer {
  const [der] = pemToDers(pem);
  if (!der) throw new Error('no PEM certificate');
  return der;
}

export { derToPem } from '../../core/x509/pem.js';
