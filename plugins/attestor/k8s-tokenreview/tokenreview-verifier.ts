import { kubeConfigFrom } from '../../../core/kubernetes/kubeconfig.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ServiceAccountIdentity, ServiceAccountTokenVerifier } from '../../api/attestor.js';
import { screenToken, type UnverifiedJwt } from '../../../core/kubernetes/unverified-jwt.js';
import { RejectedTokens, type RejectedTokensConfig } from '../../../core/kubernetes/rejected-tokens.js';
import { TokenCache, type Expiring } from '../../../core/kubernetes/token-cache.js';
import { identityFromReview } from './review-result.js';
import { TokenReviewClient } from './review-client.js';

export interface TokenReviewVerifierOptions {
  /** From loadKubeConfig(): a kubeconfig file or the in-cluster service account. */
  kubeConfig: KubeConfig;
  /** Sent as spec.audiences; status.audiences must then contain one. Empty: the API server's own audiences. */
  audiences: string[];
  /** Default 10 s. */
  requestTimeoutMs?: number;
  /** Default 10,000 tokens. */
  cacheMaxEntries?: number;
  /** A review is reused until the token's exp, but never longer than this. Default 10 s. */
  maxCacheSeconds?: number;
  /** Reuse period for a token without exp. Default 60 s. */
  noExpiryCacheSeconds?: number;
  /** Remember refused tokens (limits.rejectedTokens); without it every attempt is reviewed. */
  rejectedTokens?: RejectedTokensConfig;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
}

/**
 * Verifies service-account tokens with the API server's TokenReview, which (unlike an offline check) also
 * notices a deleted pod or service account. One token costs at most one review per lifetime: successful
 * reviews are cached per token until its exp (capped by maxCacheSeconds), and concurrent requests with one
 * token share one review. With `rejectedTokens`, a refused token is answered with the same refusal for a while,
 * so repeating it costs no more reviews (many different bad tokens are the attestation rate limit's job);
 * tokens that are malformed, unsigned, HS256, expired or not yet valid are refused locally without a review.
 */
export class TokenReviewVerifier implements ServiceAccountTokenVerifier {
  private readonly client: TokenReviewClient;
  private readonly cache: TokenCache<ServiceAccountIdentity>;
  private readonly audiences: readonly string[];
  private readonly now: () => number;
  private readonly maxCacheMs: number;
  private readonly noExpiryCacheMs: number;

  constructor(opts: TokenReviewVerifierOptions) {
    this.client = new TokenReviewClient(opts.kubeConfig, opts.requestTimeoutMs ?? 10_000);
    this.cache = new TokenCache(opts.cacheMaxEntries ?? 10_000, opts.rejectedTokens && new RejectedTokens(opts.rejectedTokens));
    this.audiences = [...opts.audiences];
    this.now = opts.now ?? (() => Date.now());
    this.maxCacheMs = (opts.maxCacheSeconds ?? 10) * 1000;
    this.noExpiryCacheMs = (opts.noExpiryCacheSeconds ?? 60) * 1000;
  }

  /** Number of distinct tokens with a cached review. */
  get cachedReviews(): number {
    return this.cache.size;
  }

  async verify(token: string): Promise<ServiceAccountIdentity> {
    const nowMs = this.now();
    const jwt = screenToken(token, { nowMs, requireExp: false });
    const identity = await this.cache.resolve(token, nowMs, () => this.review(token, jwt, nowMs));
    return { ...identity };
  }

  private async review(token: string, jwt: UnverifiedJwt, nowMs: number): Promise<Expiring<ServiceAccountIdentity>> {
    const status = await this.client.review(token, this.audiences);
    const identity = identityFromReview(status, this.audiences, token);
    // The API server has just vouched for this very token, so its exp can now be trusted.
    const expiresAt = jwt.payload.exp !== undefined ? new Date(jwt.payload.exp * 1000) : undefined;
    const reuseUntil = expiresAt?.getTime() ?? nowMs + this.noExpiryCacheMs;
    return { value: { ...identity, expiresAt }, expiresAtMs: Math.min(reuseUntil, nowMs + this.maxCacheMs) };
  }
}

/** Builds the verifier from meshid's kubernetes.* settings: a kubeconfig path, or '' for the in-cluster account. */
export function createTokenReviewVerifier(config: {
  kubeconfig: string;
  audiences: string[];
  rejectedTokens?: RejectedTokensConfig;
  maxCacheSeconds?: number;
}): TokenReviewVerifier {
  const kubeConfig = kubeConfigFrom(config.kubeconfig);
  return new TokenReviewVerifier({ ...config, kubeConfig });
}
