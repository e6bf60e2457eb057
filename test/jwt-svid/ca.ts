import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { jwtVerify, type JWTPayload, type JWTVerifyResult } from 'jose';
import { readCaServerConfig } from '../../ca-server/config.js';
import { startCaServer, type CaServer } from '../../ca-server/server.js';
import { TrustBundle } from '../../core/bundle.js';
import { createLogger } from '../../core/log.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { createCsrPem } from '../../core/x509/csr-request.js';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import type { ProtoGrpcType as AdminProto } from '../../protos/gen/admin.js';
import type { ProtoGrpcType as AgentProto } from '../../protos/gen/agent.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { JWTSVIDRequest } from '../../protos/gen/meshid/v1/JWTSVIDRequest.js';
import type { JWTSVID__Output } from '../../protos/gen/meshid/v1/JWTSVID.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import { loadProto } from '../../protos/load.js';
import { JwtIssuer } from '../support/jwt-issuer.js';

export const TRUST_DOMAIN = 'jwt.meshid.test';
export const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const K8S_AUDIENCE = 'meshid';
export const NODE_AGENT_ACCOUNT = 'meshid-system/meshid-agent';

const CLIENT_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': 'localhost' };

type Unary<Req, Res> = (request: Req, callback: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

/** One unary call as a promise. */
export function rpc<Req, Res>(client: grpc.Client, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

/** Awaits a call that must fail and returns its gRPC status code and details. */
export async function refusal(promise: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: grpc.status[e.code] ?? String(e.code), details: e.details };
  }
  throw new Error('the call succeeded but was expected to fail');
}

/** A node agent as the CA sees it: its SPIFFE ID and an mTLS client presenting its agent SVID. */
export interface Agent {
  spiffeId: string;
  client: NodeAgentServiceClient;
  mint(request: JWTSVIDRequest): Promise<JWTSVID__Output>;
}

/**
 * A real CA server in-process: temp data dir, free ports, Kubernetes attestation offline against a JWKS file
 * (so node agents can attest with projected tokens too).
 */
export class JwtCa {
  private readonly clients: grpc.Client[] = [];

  private constructor(
    readonly server: CaServer,
    readonly dir: string,
    readonly k8s: JwtIssuer,
  ) {}

  /** `dataDir` reuses a data dir (restart); `config` is merged over the fixture's raw config. */
  static async start(options: { dir?: string; config?: Record<string, unknown> } = {}): Promise<JwtCa> {
    const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'meshid-jwt-')));
    const k8s = await JwtIssuer.create({ issuer: K8S_ISSUER, alg: 'ES256', kid: 'k8s' });
    const jwksFile = path.join(dir, 'k8s-jwks.json');
    await writeFile(jwksFile, JSON.stringify(k8s.jwks()));
    const config = readCaServerConfig({
      trustDomain: TRUST_DOMAIN,
      dataDir: path.join(dir, 'data'),
      listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'admin.sock') },
      kubernetes: {
        mode: 'jwt',
        issuer: K8S_ISSUER,
        jwksFile,
        audiences: [K8S_AUDIENCE],
        trustedNodeAccounts: [NODE_AGENT_ACCOUNT],
      },
      ...options.config,
    });
    const server = await startCaServer(config, createLogger({ name: 'meshid-ca', level: 'silent' }));
    return new JwtCa(server, dir, k8s);
  }

  get trustDomain(): TrustDomain {
    return TrustDomain.parse(TRUST_DOMAIN);
  }

  admin(): AdminServiceClient {
    const proto = loadProto<AdminProto>('meshid/v1/admin.proto');
    return this.track(new proto.meshid.v1.AdminService(`unix:${this.server.adminSocket}`, grpc.credentials.createInsecure()));
  }

  /** A NodeAgentService client over TLS; with `identity` it presents that client certificate. */
  agentClient(identity?: { keyPem: string; certChainPem: string }): NodeAgentServiceClient {
    const proto = loadProto<AgentProto>('meshid/v1/agent.proto');
    const credentials = grpc.credentials.createSsl(
      Buffer.from(this.server.bundle().toPem()),
      identity ? Buffer.from(identity.keyPem) : null,
      identity ? Buffer.from(identity.certChainPem) : null,
    );
    return this.track(new proto.meshid.v1.NodeAgentService(`127.0.0.1:${this.server.grpcPort}`, credentials, CLIENT_OPTIONS));
  }

  /** Attests a VM agent with a join token made through the admin API (or a node agent with its pod token). */
  async attestAgent(credential: { joinToken: true } | { k8sNode: string }): Promise<Agent> {
    const keys = generateKeyPair();
    const csr = createCsrPem(keys);
    const bootstrap = this.agentClient();
    let request;
    if ('joinToken' in credential) {
      const admin = this.admin();
      const created = await rpc(admin, admin.CreateJoinToken, {});
      request = { join_token: created.value, csr };
    } else {
      request = { k8s_token: await this.podToken(NODE_AGENT_ACCOUNT, credential.k8sNode), csr };
    }
    const res = await rpc(bootstrap, bootstrap.AttestAgent, request);
    const certChainPem = res.svid!.cert_chain.map((der) => new X509Certificate(der).toString()).join('');
    const client = this.agentClient({ keyPem: privateKeyToPem(keys.privateKey), certChainPem });
    return { spiffeId: res.svid!.spiffe_id, client, mint: (req) => rpc(client, client.MintJWTSVID, req) };
  }

  /** A registration entry for `spiffeId` parented to `parentId`, made through the admin API; returns its id. */
  async createEntry(spiffeId: string, parentId: string): Promise<string> {
    const admin = this.admin();
    const res = await rpc(admin, admin.CreateEntry, { spiffe_id: spiffeId, parent_id: parentId, selectors: ['unix:uid:1000'] });
    return res.id;
  }

  /** A projected service-account token of a pod on `node` ("namespace/serviceaccount"). */
  podToken(account: string, node: string): Promise<string> {
    const [namespace, serviceAccount] = account.split('/') as [string, string];
    return this.k8s.mintServiceAccountToken({
      namespace,
      serviceAccount,
      audiences: [K8S_AUDIENCE],
      pod: { name: `${serviceAccount}-pod`, uid: `${serviceAccount}-uid` },
      node: { name: node, uid: `${node}-uid` },
    });
  }

  /** The admin API's `bundle show --format jwks` document. */
  async jwksJson(): Promise<string> {
    const admin = this.admin();
    return (await rpc(admin, admin.GetBundle, { format: 'jwks' })).content;
  }

  /** Closes the clients and the server; `keepDir` leaves the data dir for a restart. */
  async close(options: { keepDir?: boolean } = {}): Promise<void> {
    for (const client of this.clients) client.close();
    await this.server.close();
    if (!options.keepDir) await rm(this.dir, { recursive: true, force: true });
  }

  private track<T extends grpc.Client>(client: T): T {
    this.clients.push(client);
    return client;
  }
}

/** Verifies a JWT-SVID the way a validator holding the SPIFFE bundle does: key chosen by kid. */
export function verifyWithBundle(
  token: string,
  jwksJson: string,
  options: { audience: string; algorithms?: string[]; currentDate?: Date },
): Promise<JWTVerifyResult<JWTPayload>> {
  const bundle = TrustBundle.fromJwks(TrustDomain.parse(TRUST_DOMAIN), jwksJson);
  return jwtVerify(
    token,
    (header) => {
      const key = bundle.jwtAuthorities.find((k) => k.keyId === header.kid);
      if (!key) throw new Error(`no JWT authority with kid "${header.kid}" in the bundle`);
      return key.publicKey;
    },
    { audience: options.audience, algorithms: options.algorithms ?? ['ES256'], currentDate: options.currentDate, typ: 'JWT' },
  );
}
