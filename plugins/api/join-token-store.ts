/**
 * What the join-token attestor may do with the CA's datastore, and nothing more: store a new token (by hash),
 * consume one atomically. Revocation is an admin operation on the datastore itself.
 */

export interface JoinTokenRecord {
  /** Public identifier, safe to log and to show in `meshid token list`. */
  id: string;
  /** SHA-256 (hex) of the full token text; the token itself is never stored. */
  tokenHash: string;
  /** SPIFFE ID the attested agent receives. */
  spiffeId: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt?: Date;
  revokedAt?: Date;
}

export type ConsumeJoinTokenResult =
  | { ok: true; token: JoinTokenRecord }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'revoked' };

export interface JoinTokenStore {
  createJoinToken(token: JoinTokenRecord): Promise<void>;
  /** Marks the token used if it is valid; exactly one of any number of concurrent callers gets ok. */
  consumeJoinToken(tokenHash: string, now: Date): Promise<ConsumeJoinTokenResult>;
}
