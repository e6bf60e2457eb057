import { ConfigError, durationSeconds } from '../../../core/config-values.js';
import type { TokenVerifierPlugin } from '../../api/attestor.js';
import { createTokenReviewVerifier } from './tokenreview-verifier.js';

export interface TokenReviewSettings {
  /** How long one successful review of a token is reused. */
  reviewCacheSeconds: number;
}

/**
 * kube-apiserver itself caches a token's successful authentication for 10 s, so a pod or service account
 * deleted after its token was used is noticed within that time plus this cache's. Kept as short by default.
 */
const DEFAULT_REVIEW_CACHE = '10s';

/** `kubernetes.mode: tokenreview`: the API server verifies every token (TokenReview). */
export const tokenReviewVerifier: TokenVerifierPlugin<TokenReviewSettings> = {
  type: 'tokenreview',
  readSettings(key, raw) {
    const reviewCacheSeconds = durationSeconds(`${key}.reviewCacheTtl`, raw.reviewCacheTtl ?? DEFAULT_REVIEW_CACHE);
    if (reviewCacheSeconds > 3600) {
      throw new ConfigError(`${key}.reviewCacheTtl`, 'must be between 0s (review every request) and 1h');
    }
    return { reviewCacheSeconds };
  },
  create: async (settings, { kubeconfig, audiences, rejectedTokens }) =>
    createTokenReviewVerifier({ kubeconfig, audiences, rejectedTokens, maxCacheSeconds: settings.reviewCacheSeconds }),
};
