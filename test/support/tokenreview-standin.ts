import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { errors as joseErrors, type JWTPayload } from 'jose';
import { JwtIssuer, type ServiceAccountTokenOptions } from './jwt-issuer.js';
import { createLocalServerTls } from './standin-tls.js';

/**
 * A local HTTPS stand-in for kube-apiserver's TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews),
 * answering in its JSON shapes for tokens from its own JwtIssuer. Attestation is tested against the real API
 * server (test/peers/kube-cluster.ts); this stand-in exists only for faults the real one cannot produce:
 * - a TokenReview that is accepted but never answered (`stalled`: meshid's request timeout);
 * - a non-conforming server reporting status.audiences other than those asked for (`statusAudiencesOverride`);
 * - a token that the API server's clock sees expired while meshid's does not (mint one already expired: the
 *   real server's TokenRequest never does);
 * - a service-account token without exp (legacy Secret tokens, which only kube-controller-manager's token
 *   controller mints; the test cluster has none);
 * - a JWT that the API server maps to a user other than a service account (`addStaticToken`: the real server
 *   would need an OIDC or webhook authenticator, and its static tokens are not JWTs, which meshid refuses
 *   before any review).
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

/** As kube-apiserver serializes it: a refusal has no `authenticated` and an empty user. */
interface TokenReviewStatus {
  authenticated?: true;
  user?: StandinUser | Record<string, never>;
  audiences?: string[];
  error?: string;
}

const TOKENREVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const EXTRA = 'authentication.kubernetes.io/';

export class TokenReviewStandin {
  /** Bearer token meshid's kubeconfig uses; any other caller is answered 401. */
  readonly callerToken = randomBytes(24).toString('base64url');
  /** TokenReviews received, answered or not. */
  reviewCount = 0;
  /** When set, successful reviews report these status.audiences whatever was asked (a non-conforming server). */
  statusAudiencesOverride: string[] | undefined;
  /** When true, TokenReview requests are accepted but never answered (to exercise client timeouts). */
  stalled = false;

  private readonly pods = new Map<string, StandinPod>();
  private readonly nodeUids = new Map<string, string>();
  private readonly staticTokens = new Map<string, StandinUser>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly caPem: string,
    readonly issuer: JwtIssuer,
  ) {}

  static async start(): Promise<TokenReviewStandin> {
    const tls = await createLocalServerTls();
    const issuer = await JwtIssuer.create({ issuer: 'https://kubernetes.default.svc.cluster.local' });
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const standin = new TokenReviewStandin(server, `https://127.0.0.1:${port}`, tls.caPem, issuer);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void standin.handle(req, res));
    return standin;
  }

  registerPod(pod: StandinPod): void {
    this.pods.set(`${pod.namespace}/${pod.name}`, { ...pod });
  }

  /** A token the stand-in authenticates as `user` (as an OIDC or webhook authenticator would). */
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

  /** Writes a kubeconfig (0600) that reaches this stand-in with its CA and caller token. */
  async writeKubeconfig(dir: string): Promise<string> {
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
      users: [{ name: 'meshid', user: { token: this.callerToken } }],
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

  private nodeUid(nodeName: string): string {
    let uid = this.nodeUids.get(nodeName);
    if (!uid) this.nodeUids.set(nodeName, (uid = randomUUID()));
    return uid;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (`${req.method} ${new URL(req.url ?? '/', this.url).pathname}` !== `POST ${TOKENREVIEW_PATH}`) {
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (req.headers.authorization !== `Bearer ${this.callerToken}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));

    let review: { spec?: { token?: unknown; audiences?: unknown } };
    try {
      review = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, status(400, 'BadRequest', 'request body is not JSON'));
    }
    const token = typeof review.spec?.token === 'string' ? review.spec.token : '';
    const audiences = Array.isArray(review.spec?.audiences) ? review.spec.audiences.map(String) : [];
    this.reviewCount++;
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
    // kube-apiserver's --api-audiences default to its issuer.
    const target = requested.length > 0 ? requested : [this.issuer.issuer];
    const user = this.staticTokens.get(token);
    if (user) return { authenticated: true, user, audiences: target };

    let claims: JWTPayload;
    try {
      claims = await this.issuer.verify(token);
    } catch (err) {
      // The real server's wording (k8s.io/kubernetes pkg/serviceaccount/claims.go).
      return unauthenticated(err instanceof joseErrors.JWTExpired ? 'service account token has expired' : 'token could not be validated');
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
    if (claims.jti) extra[`${EXTRA}credential-id`] = [`JTI=${claims.jti}`];
    if (k8s.node?.name && k8s.node.uid) {
      extra[`${EXTRA}node-name`] = [k8s.node.name];
      extra[`${EXTRA}node-uid`] = [k8s.node.uid];
    }
    if (k8s.pod?.name && k8s.pod.uid) {
      extra[`${EXTRA}pod-name`] = [k8s.pod.name];
      extra[`${EXTRA}pod-uid`] = [k8s.pod.uid];
    }
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
  return { user: {}, error: `[invalid bearer token, ${reason}]` };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
