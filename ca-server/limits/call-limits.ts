import { isCredentialRefusal } from '../../core/kubernetes/rejected-tokens.js';
import { RateLimiter, SYSTEM_CLOCK, type LimiterClock, type QueueConfig, type RateLimitConfig } from './rate-limiter.js';
import { sourceAddress } from './source-address.js';

export type RateLimitName = 'attestationPerIp' | 'signingPerAgent' | 'signingPerIdentity';

/** The per-caller rate limits (an undefined one is off) and how callers queue for them. */
export interface CallLimitsConfig extends Record<RateLimitName, RateLimitConfig | undefined> {
  queue: QueueConfig;
  /** Callers remembered per limit. */
  trackedCallers: number;
}

/**
 * The CA API's per-caller rate limits, in the terms of the calls they guard (SPIRE's attestation and
 * signing limits, plus one per identity):
 * - attestation per source address: every AttestAgent call, and every Bearer token a CreateCertificate
 *   caller presents that is refused. Valid tokens are not charged: they are verified once and then served
 *   from the token cache, and an istio-agent fleet behind one address must not wait on each other; what
 *   costs TokenReviews is a stream of bad tokens, and that is what the budget stops.
 * - signing per agent: each SVID an agent asks for (MintWorkloadSVIDs counts the batch), its JWT-SVIDs and
 *   its own renewals.
 * - signing per identity: CreateCertificate by the attested SPIFFE ID.
 */
export class CallLimits {
  private readonly attestation: RateLimiter | undefined;
  private readonly agentSigning: RateLimiter | undefined;
  private readonly identitySigning: RateLimiter | undefined;

  constructor(config: CallLimitsConfig, onRefused: (limit: string) => void, clock: LimiterClock = SYSTEM_CLOCK) {
    const limiter = (name: RateLimitName, describe: (key: string) => string) => {
      const limit = config[name];
      return limit && new RateLimiter({ name, describe, limit, queue: config.queue, maxKeys: config.trackedCallers, clock, onRefused });
    };
    this.attestation = limiter('attestationPerIp', (ip) => `attestation from ${ip}`);
    this.agentSigning = limiter('signingPerAgent', (agent) => `signing for agent ${agent}`);
    this.identitySigning = limiter('signingPerIdentity', (id) => `signing for ${id}`);
  }

  /** AttestAgent from `peer` (grpc-js call.getPeer()). */
  attestingAgent(peer: string): Promise<void> | undefined {
    return this.attestation?.take(sourceAddress(peer));
  }

  /**
   * Runs a Bearer-token attestation for a caller at `peer`: refused at once while that source has spent its
   * attestation budget on refused tokens (there is nothing to queue for), and a refused token spends from it.
   */
  async attestingWithToken<T>(peer: string, attest: () => Promise<T>): Promise<T> {
    if (!this.attestation) return attest();
    const source = sourceAddress(peer);
    this.attestation.refuseIfSpent(source);
    try {
      return await attest();
    } catch (err) {
      if (isCredentialRefusal(err)) this.attestation.spend(source);
      throw err;
    }
  }

  /** `svids` SVIDs (X509 or JWT) signed for the agent `agentId`, its own included. */
  signingForAgent(agentId: string, svids = 1): Promise<void> | undefined {
    return this.agentSigning?.take(agentId, svids);
  }

  /** One X509-SVID signed for `spiffeId` through the Istio CA API. */
  signingForIdentity(spiffeId: string): Promise<void> | undefined {
    return this.identitySigning?.take(spiffeId);
  }
}
