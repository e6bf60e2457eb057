import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { ServiceAccountIdentity, ServiceAccountTokenVerifier } from '../../api/attestor.js';
import { invalidArgument, MeshidError } from '../../../core/errors.js';
import { ACCEPTED_TOKEN_ALGORITHMS, quoteClaim, tokenErrors } from '../../../core/kubernetes/token-errors.js';
import {
  screenToken,
  TOKEN_CLOCK_TOLERANCE_SECONDS,
  type UnverifiedJwt,
} from '../../../core/kubernetes/unverified-jwt.js';
import { RejectedTokens, type RejectedTokensConfig } from '../../../core/kubernetes/rejected-tokens.js';
import { TokenCache } from '../../../core/kubernetes/token-cache.js';
import { identityFromClaims } from './claims.js';
import { jwksFromDiscovery } from './jwks-discovery.js';
import { jwksFromFile } from './jwks-file.js';

export interface JwtVerifierOptions {
  /** The cluster's --service-account-issuer; tokens must carry exactly this iss. */
  issuer: string;
  /** A token's aud must include at least one of these. */
  audiences: string[];
  /** The issuer's public keys: jwksFromFile() or jwksFromDiscovery(). */
  keys: JWTVerifyGetKey;
  /**
   * Changes whenever the key set may have changed; verified tokens are remembered only while it stays the
   * same. Without it (remote JWKS) a verified token is remembered for at most VERIFIED_TOKEN_MAX_MS.
   */
  keysGeneration?: () => string;
  /** Remember refused tokens (limits.rejectedTokens) while the key set stays the same. */
  rejectedTokens?: RejectedTokensConfig;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
}

/** Verified tokens are reused for at most this long (and never past their exp). */
export const VERIFIED_TOKEN_MAX_MS = 60_000;
const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

/**
 * Verifies projected service-account tokens offline: signature against the issuer's JWKS (asymmetric
 * algorithms only), iss, aud, exp and nbf with TOKEN_CLOCK_TOLERANCE_SECONDS of skew, and a
 * system:serviceaccount subject. Unlike TokenReview it cannot notice that the bound pod was deleted; the
 * token's exp bounds that window.
 */
export class JwtServiceAccountVerifier implements ServiceAccountTokenVerifier {
  private readonly now: () => number;
  private verified: TokenCache<ServiceAccountIdentity>;
  private generation: string | undefined;

  constructor(private readonly opts: JwtVerifierOptions) {
    if (!opts.issuer) throw invalidArgument('kubernetes.issuer is required for offline token verification', 'bad_config');
    if (opts.audiences.length === 0) {
      throw invalidArgument('kubernetes.audiences must name at least one audience for offline token verification', 'bad_config');
    }
    this.now = opts.now ?? (() => Date.now());
    this.verified = this.newCache();
  }

  async verify(token: string): Promise<ServiceAccountIdentity> {
    const nowMs = this.now();
    const jwt = screenToken(token, { nowMs, requireExp: true });
    // Checked before the signature so a token from another cluster is named as such, not as a bad signature.
    if (jwt.payload.iss !== this.opts.issuer) throw tokenErrors.wrongIssuer(jwt.payload.iss, this.opts.issuer);
    // A client sends the same token with every request until it rotates it: verify its signature once.
    const generation = this.opts.keysGeneration?.();
    if (generation !== this.generation) {
      this.verified = this.newCache();
      this.generation = generation;
    }
    return this.verified.resolve(token, nowMs, async () => {
      const identity = await this.verifySignatureAndClaims(token, jwt, nowMs);
      return { value: identity, expiresAtMs: Math.min((jwt.payload.exp ?? 0) * 1000, nowMs + VERIFIED_TOKEN_MAX_MS) };
    });
  }

  /** Verdicts, good or bad, hold for one key set: a new key may verify what the old ones refused. */
  private newCache(): TokenCache<ServiceAccountIdentity> {
    const rejections = this.opts.rejectedTokens && new RejectedTokens(this.opts.rejectedTokens);
    return new TokenCache(VERIFIED_TOKEN_CACHE_SIZE, rejections);
  }

  private async verifySignatureAndClaims(token: string, jwt: UnverifiedJwt, nowMs: number): Promise<ServiceAccountIdentity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.opts.keys, {
        issuer: this.opts.issuer,
        audience: this.opts.audiences,
        algorithms: [...ACCEPTED_TOKEN_ALGORITHMS],
        clockTolerance: TOKEN_CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(nowMs),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw this.describe(err, jwt);
    }
    return identityFromClaims(payload);
  }

  /** Maps jose's errors onto the token taxonomy; jose messages never contain the token, but are not reused. */
  private describe(err: unknown, jwt: UnverifiedJwt): MeshidError {
    if (err instanceof MeshidError) return err;
    const { header, payload } = jwt;
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return tokenErrors.badSignature('it does not verify with the issuer\'s key');
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey) {
      return tokenErrors.badSignature(`the issuer has no ${header.alg} key with key id ${quoteClaim(header.kid ?? '')}`);
    }
    if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return tokenErrors.badSignature('several of the issuer\'s keys match it, and its key id does not pick one');
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return tokenErrors.unsupportedAlg(header.alg);
    if (err instanceof joseErrors.JWTExpired) return tokenErrors.expired(new Date((payload.exp ?? 0) * 1000));
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === 'iss') return tokenErrors.wrongIssuer(payload.iss, this.opts.issuer);
      if (err.claim === 'aud') return tokenErrors.wrongAudience(payload.aud ?? [], this.opts.audiences);
      if (err.claim === 'nbf') return tokenErrors.notYetValid(new Date((payload.nbf ?? 0) * 1000));
      return tokenErrors.malformed(`its ${err.claim} claim is ${err.reason === 'missing' ? 'missing' : 'invalid'}`);
    }
    if (err instanceof joseErrors.JOSEError) return tokenErrors.malformed(`it is not a valid signed JWT (${err.code})`);
    return new MeshidError('INTERNAL', 'unexpected failure while verifying a service-account token', 'token_verify_failed');
  }
}

export interface JwtVerifierConfig {
  issuer: string;
  audiences: string[];
  /** Exactly one of jwksFile and oidcDiscoveryUrl. */
  jwksFile?: string;
  oidcDiscoveryUrl?: string;
  /** CA bundle for oidcDiscoveryUrl. */
  caFile?: string;
  rejectedTokens?: RejectedTokensConfig;
  now?: () => number;
}

/** Builds the offline verifier from meshid's kubernetes.* settings (jwt mode). */
export async function createJwtVerifier(config: JwtVerifierConfig): Promise<JwtServiceAccountVerifier> {
  if (Boolean(config.jwksFile) === Boolean(config.oidcDiscoveryUrl)) {
    throw invalidArgument('set exactly one of kubernetes.jwksFile or kubernetes.oidcDiscoveryUrl', 'bad_config');
  }
  const source = config.jwksFile
    ? await jwksFromFile(config.jwksFile)
    : { keys: await jwksFromDiscovery({ discoveryUrl: config.oidcDiscoveryUrl!, issuer: config.issuer, caFile: config.caFile }) };
  return new JwtServiceAccountVerifier({
    issuer: config.issuer,
    audiences: config.audiences,
    keys: source.keys,
    keysGeneration: 'generation' in source ? source.generation : undefined,
    rejectedTokens: config.rejectedTokens,
    now: config.now,
  });
}
