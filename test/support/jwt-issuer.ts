import { randomUUID } from 'node:crypto';
import {
  base64url,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';

/** Mints real signed Kubernetes service-account tokens (projected-token claim layout) for tests. */

export type IssuerAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'ES512';

export interface ObjectRef {
  name: string;
  uid: string;
}

export interface ServiceAccountTokenOptions {
  namespace: string;
  serviceAccount: string;
  serviceAccountUid?: string;
  audiences: string[];
  pod?: ObjectRef;
  node?: ObjectRef;
  /** Default 3600 s from issuedAt. */
  lifetimeSeconds?: number;
  /** Default: now. */
  issuedAt?: Date;
  /** Default: issuedAt. */
  notBefore?: Date;
  /** Default: issuedAt + lifetimeSeconds. */
  expiresAt?: Date;
  /** Omit exp altogether (legacy secret-based tokens have none). */
  noExpiry?: boolean;
  /** Overrides for negative tests. */
  issuer?: string;
  subject?: string;
  kubernetesClaims?: Record<string, unknown>;
}

export class JwtIssuer {
  private constructor(
    readonly issuer: string,
    readonly alg: IssuerAlgorithm,
    readonly kid: string,
    private readonly privateKey: CryptoKey,
    readonly publicKey: CryptoKey,
    private readonly publicJwk: JWK,
  ) {}

  /** A fresh key pair. Pass the `kid` of another issuer to build a forger whose tokens name that issuer's key. */
  static async create(opts: { issuer: string; alg?: IssuerAlgorithm; kid?: string }): Promise<JwtIssuer> {
    const alg = opts.alg ?? 'RS256';
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = opts.kid ?? randomUUID();
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return new JwtIssuer(opts.issuer, alg, kid, privateKey, publicKey, publicJwk);
  }

  /** What /openid/v1/jwks serves for this issuer. */
  jwks(): JSONWebKeySet {
    return { keys: [{ ...this.publicJwk }] };
  }

  async mintServiceAccountToken(o: ServiceAccountTokenOptions): Promise<string> {
    const issuedAt = o.issuedAt ?? new Date();
    const expiresAt = o.expiresAt ?? new Date(issuedAt.getTime() + (o.lifetimeSeconds ?? 3600) * 1000);
    const k8s: Record<string, unknown> = {
      namespace: o.namespace,
      serviceaccount: { name: o.serviceAccount, uid: o.serviceAccountUid ?? randomUUID() },
    };
    if (o.pod) k8s.pod = { ...o.pod };
    if (o.node) k8s.node = { ...o.node };
    const payload: JWTPayload = {
      iss: o.issuer ?? this.issuer,
      sub: o.subject ?? `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
      aud: o.audiences,
      iat: seconds(issuedAt),
      nbf: seconds(o.notBefore ?? issuedAt),
      jti: randomUUID(),
      'kubernetes.io': o.kubernetesClaims ?? k8s,
    };
    if (!o.noExpiry) payload.exp = seconds(expiresAt);
    return this.sign(payload);
  }

  /** Signs any payload as-is (no defaults added). */
  async sign(payload: JWTPayload): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: this.alg, kid: this.kid }).sign(this.privateKey);
  }

  /** Checks signature and issuer the way kube-apiserver does; throws on any failure (jose errors). */
  async verify(token: string, nowMs = Date.now()): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      issuer: this.issuer,
      algorithms: [this.alg],
      currentDate: new Date(nowMs),
    });
    return payload;
  }
}

/** A hand-built `alg: none` token: header and payload, empty signature. */
export function unsignedToken(payload: JWTPayload): string {
  const part = (value: object) => base64url.encode(JSON.stringify(value));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

/** A token MACed with a shared secret (HS256), which a public-key verifier must refuse. */
export async function hs256Token(payload: JWTPayload, secret = new TextEncoder().encode(randomUUID())): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(secret);
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
