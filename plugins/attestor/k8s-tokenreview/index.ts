import type { TokenVerifierPlugin } from '../../api/attestor.js';
import { createTokenReviewVerifier } from './tokenreview-verifier.js';

/** `kubernetes.mode: tokenreview`: the API server verifies every token (TokenReview). No settings of its own. */
export const tokenReviewVerifier: TokenVerifierPlugin<Record<string, never>> = {
  type: 'tokenreview',
  readSettings: () => ({}),
  create: async (_settings, { kubeconfig, audiences, rejectedTokens }) => createTokenReviewVerifier({ kubeconfig, audiences, rejectedTokens }),
};
