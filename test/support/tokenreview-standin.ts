import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { errors as joseErrors, type JWTPayload } from 'jose';
import { JwtIssuer, type IssuerAlgorithm, type ServiceAccountTokenOptions } from './jwt-issuer.js';
import { createLocalServerTls } from './standin-tls.js';

/**
 * A local HTTPS stand-in for the parts of kube-apiserver meshid talks to: TokenReview
 * (POST /apis/authentication.k8s.io/v1/tokenreviews) and service-account issuer discovery
 * (/.well-known/openid-configuration, /openid/v1/jwks). Tokens are real JWTs from its JwtIssuer; reviews check
 * signature, expiry, audiences and that a bound pod still exists, and answer in kube-apiserver's JSON shapes.
 */

export interface StandinPod {
  name: string;
  uid: string;
  namespace: string;
  serviceAccount: string;
  nodeName: string;
}

export interface StandinUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface TokenReviewStatus {
  authenticated: boolean;
  user?: StandinUser;
  audiences?: string[];
  error?: string;
}

export interface TokenReviewStandinOptions {
  /** --service-account-issuer. Default: https://kubernetes.default.svc.cluster.local */
  issuer?: string;
  /** --api-audiences, used when a review names no audiences. Default: [issuer]. */
  apiAudiences?: string[];
  alg?: IssuerAlgorithm;
}

const TOKENREVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const EXTRA = 'authentication.kubernetes.io/';

export class TokenReviewStandin {
  /** Bearer token meshid's kubeconfig uses; allowed to create tokenreviews. */
  readonly callerToken = randomBytes(24).toString('base64url');
  /** A caller that authenticates but lacks RBAC for tokenreviews (answered 403). */
  readonly forbiddenCallerToken = randomBytes(24).toString('base64url');
  /** audiences of every review received, in order; `reviews.length` is the review count. */
  readonly reviews: string[][] = [];
  jwksFetches = 0;
  /** When set, successful reviews report these status.audiences whatever was asked (a non-conforming server). */
  statusAudiencesOverride: string[] | undefined;
  /** When true, TokenReview requests are accepted but never answered (to exercise client timeouts). */
  stalled = false;

  private readonly pods = new Map<string, StandinPod>();
  private readonly nodeUids = new Map<string, string>();
  private readonly staticTokens = new Map<string, StandinUser>();
  private readonly apiAudiences: string[];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly caPem: string,
    readonly issuer: JwtIssuer,
    apiAudiences: string[] | undefined,
  ) {
    this.apiAudiences = apiAudiences ?? [issuer.issuer];
  }

  static async start(opts: TokenReviewStandinOptions = {}): Promise<TokenReviewStandin> {
    const tls = await createLocalServerTls();
    const issuer = await JwtIssuer.create({
      issuer: opts.issuer ?? 'https://kubernetes.default.svc.cluster.local',
      alg: opts.alg,
    });
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const standin = new TokenReviewStandin(server, `https://127.0.0.1:${port}`, tls.caPem, issuer, opts.apiAudiences);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void standin.handle(req, res));
    return standin;
  }

  get reviewCount(): number {
    return this.reviews.length;
  }

  registerPod(pod: StandinPod): void {
    this.pods.set(`${pod.namespace}/${pod.name}`, { ...pod });
  }

  /** The pod is gone: reviews of tokens bound to it now fail, as after `kubectl delete pod`. */
  deletePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
  }

  nodeUid(nodeName: string): string {
    let uid = this.nodeUids.get(nodeName);
    if (!uid) this.nodeUids.set(nodeName, (uid = randomUUID()));
    return uid;
  }

  /** A non-JWT token for a non-service-account user (like --token-auth-file). */
  addStaticToken(token: string, user: StandinUser): void {
    this.staticTokens.set(token, user);
  }

  /** Like TokenRequest with boundObjectRef: a token of the pod's service account bound to the pod and its node. */
  async mintPodToken(
    namespace: string,
    podName: string,
    opts: Omit<ServiceAccountTokenOptions, 'namespace' | 'serviceAccount' | 'pod' | 'node'>,
  ): Promise<string> {
    const pod = this.pods.get(`${namespace}/${podName}`);
    if (!pod) throw new Error(`stand-in: pod ${namespace}/${podName} is not registered`);
    return this.issuer.mintServiceAccountToken({
      ...opts,
      namespace,
      serviceAccount: pod.serviceAccount,
      pod: { name: pod.name, uid: pod.uid },
      node: { name: pod.nodeName, uid: this.nodeUid(pod.nodeName) },
    });
  }

  /** Writes a kubeconfig (0600) that reaches this stand-in with its CA and the given caller token. */
  async writeKubeconfig(dir: string, callerToken = this.callerToken): Promise<string> {
    const file = path.join(dir, `kubeconfig-${randomUUID()}.json`);
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'standin',
          cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') },
        },
      ],
      users: [{ name: 'meshid', user: { token: callerToken } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'meshid' } }],
      'current-context': 'standin',
    };
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = `${req.method} ${new URL(req.url ?? '/', this.url).pathname}`;
    if (route === 'GET /.well-known/openid-configuration') {
      return send(res, 200, {
        issuer: this.issuer.issuer,
        jwks_uri: `${this.url}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: [this.issuer.alg],
      });
    }
    if (route === 'GET /openid/v1/jwks') {
      this.jwksFetches++;
      return send(res, 200, this.issuer.jwks(), 'application/jwk-set+json');
    }
    if (route !== `POST ${TOKENREVIEW_PATH}`) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));

    const caller = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (caller === this.forbiddenCallerToken) {
      return send(res, 403, status(403, 'Forbidden', 'tokenreviews.authentication.k8s.io is forbidden: User ' +
        '"system:serviceaccount:meshid:no-rbac" cannot create resource "tokenreviews" in API group ' +
        '"authentication.k8s.io" at the cluster scope'));
    }
    if (caller !== this.callerToken) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));

    let review: { spec?: { token?: unknown; audiences?: unknown } };
    try {
      review = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, status(400, 'BadRequest', 'request body is not JSON'));
    }
    const token = typeof review.spec?.token === 'string' ? review.spec.token : '';
    const audiences = Array.isArray(review.spec?.audiences) ? review.spec.audiences.map(String) : [];
    this.reviews.push(audiences);
    if (this.stalled) return;
    const result = await this.review(token, audiences);
    if (result.authenticated && this.statusAudiencesOverride) result.audiences = this.statusAudiencesOverride;
    send(res, 201, {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { token, audiences },
      status: result,
    });
  }

  private async review(token: string, requested: string[]): Promise<TokenReviewStatus> {
    const target = requested.length > 0 ? requested : this.apiAudiences;
    const user = this.staticTokens.get(token);
    if (user) return { authenticated: true, user, audiences: target };

    let claims: JWTPayload;
    try {
      claims = await this.issuer.verify(token);
    } catch (err) {
      return unauthenticated(
        err instanceof joseErrors.JWTExpired ? 'service account token has expired' : 'token could not be validated',
      );
    }
    const tokenAudiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const audiences = target.filter((a) => tokenAudiences.includes(a));
    if (audiences.length === 0) {
      return unauthenticated(
        `token audiences ${JSON.stringify(tokenAudiences)} is invalid for the target audiences ${JSON.stringify(target)}`,
      );
    }
    if (!claims.sub?.startsWith('system:serviceaccount:')) return unauthenticated('token could not be validated');

    const k8s = (claims['kubernetes.io'] ?? {}) as {
      namespace?: string;
      serviceaccount?: { uid?: string };
      pod?: { name?: string; uid?: string };
      node?: { name?: string; uid?: string };
    };
    const extra: Record<string, string[]> = {};
    if (k8s.pod) {
      const pod = this.pods.get(`${k8s.namespace}/${k8s.pod.name}`);
      if (!pod || pod.uid !== k8s.pod.uid) return unauthenticated('service account token has been invalidated');
      extra[`${EXTRA}pod-name`] = [pod.name];
      extra[`${EXTRA}pod-uid`] = [pod.uid];
    }
    if (k8s.node?.name && k8s.node.uid) {
      extra[`${EXTRA}node-name`] = [k8s.node.name];
      extra[`${EXTRA}node-uid`] = [k8s.node.uid];
    }
    if (claims.jti) extra[`${EXTRA}credential-id`] = [`JTI=${claims.jti}`];
    return {
      authenticated: true,
      user: {
        username: claims.sub,
        uid: k8s.serviceaccount?.uid ?? '',
        groups: ['system:serviceaccounts', `system:serviceaccounts:${k8s.namespace}`, 'system:authenticated'],
        extra,
      },
      audiences,
    };
  }
}

function unauthenticated(reason: string): TokenReviewStatus {
  return { authenticated: false, user: undefined, error: `[invalid bearer token, ${reason}]` };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  res.writeHead(code, { 'content-type': contentType }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
