import type { AttestedIdentity } from '../../api/attestor.js';
import type { ConsumeJoinTokenResult, JoinTokenStore } from '../../api/join-token-store.js';
import { invalidArgument, unauthenticated } from '../../../core/errors.js';
import { AGENT_PATH_PREFIX, isAgentId } from '../../../core/reserved-ids.js';
import { SpiffeId, type TrustDomain } from '../../../core/spiffeid.js';
import { hashJoinToken, newJoinToken, parseJoinToken } from './token-text.js';

export interface JoinTokenAttestorOptions {
  store: JoinTokenStore;
  trustDomain: TrustDomain;
  /** TTL when a request names none. Default 600 s. */
  defaultTtlSeconds?: number;
  /** Longest TTL a request may ask for. Default 7 days. */
  maxTtlSeconds?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface CreateJoinTokenRequest {
  /** SPIFFE ID the agent will get; default spiffe://<td>/meshid/agent/join_token/<id>. Must be in the trust domain. */
  spiffeId?: string;
  ttlSeconds?: number;
}

export interface CreatedJoinToken {
  id: string;
  /** The secret text: shown once to the operator, never stored or logged. */
  token: string;
  spiffeId: SpiffeId;
  expiresAt: Date;
}

type Refusal = Exclude<ConsumeJoinTokenResult, { ok: true }>['reason'];

const REFUSALS: Record<Refusal, (id: string) => string> = {
  unknown: () =>
    'join token is not recognised; check it was copied in full and was created on this server with `meshid token create`',
  used: (id) => `join token ${id} has already been used; each token attests one agent — create a new one`,
  expired: (id) => `join token ${id} has expired; create a new one with \`meshid token create\``,
  revoked: (id) => `join token ${id} was revoked; create a new one with \`meshid token create\``,
};

/** Single-use join tokens: created by an operator, consumed atomically by one agent's attestation. */
export class JoinTokenAttestor {
  private readonly store: JoinTokenStore;
  private readonly trustDomain: TrustDomain;
  private readonly defaultTtlSeconds: number;
  private readonly maxTtlSeconds: number;
  private readonly now: () => Date;

  constructor(opts: JoinTokenAttestorOptions) {
    this.store = opts.store;
    this.trustDomain = opts.trustDomain;
    this.defaultTtlSeconds = opts.defaultTtlSeconds ?? 600;
    this.maxTtlSeconds = opts.maxTtlSeconds ?? 7 * 24 * 3600;
    this.now = opts.now ?? (() => new Date());
  }

  async createJoinToken(req: CreateJoinTokenRequest = {}): Promise<CreatedJoinToken> {
    const ttlSeconds = req.ttlSeconds ?? this.defaultTtlSeconds;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > this.maxTtlSeconds) {
      throw invalidArgument(
        `join token TTL must be a whole number of seconds from 1 to ${this.maxTtlSeconds}`,
        'bad_join_token_ttl',
      );
    }
    const { id, token } = newJoinToken();
    const spiffeId = req.spiffeId !== undefined
      ? this.agentId(req.spiffeId)
      : this.trustDomain.spiffeId(`${AGENT_PATH_PREFIX}join_token/${id}`);
    const createdAt = this.now();
    const expiresAt = new Date(createdAt.getTime() + ttlSeconds * 1000);
    await this.store.createJoinToken({ id, tokenHash: hashJoinToken(token), spiffeId: spiffeId.toString(), createdAt, expiresAt });
    return { id, token, spiffeId, expiresAt };
  }

  /**
   * Consumes the token (exactly one of any concurrent attempts succeeds) and names the agent it admits. Run it
   * in the transaction of the whole admission (`store`), so a request refused later leaves the token unused.
   */
  async attest(token: string, store: Pick<JoinTokenStore, 'consumeJoinToken'> = this.store): Promise<AttestedIdentity> {
    const { id, hash } = parseJoinToken(token);
    const result = await store.consumeJoinToken(hash, this.now());
    if (!result.ok) throw unauthenticated(REFUSALS[result.reason](id), `join_token_${result.reason}`);
    return {
      spiffeId: SpiffeId.parse(result.token.spiffeId),
      kind: 'agent',
      attestor: 'join_token',
      selectors: [`join_token:id:${result.token.id}`],
      credentialExpiresAt: result.token.expiresAt,
    };
  }

  private agentId(input: string): SpiffeId {
    const id = SpiffeId.parse(input);
    if (!id.memberOf(this.trustDomain)) {
      throw invalidArgument(
        `join token SPIFFE ID ${id} is not in trust domain ${this.trustDomain.name}`,
        'bad_spiffe_id',
      );
    }
    // An agent ID outside the agent namespace could pass for a workload on the Istio API.
    if (!isAgentId(id)) {
      throw invalidArgument(`join token SPIFFE ID ${id} must be a node agent ID under ${AGENT_PATH_PREFIX}`, 'bad_spiffe_id');
    }
    return id;
  }
}
