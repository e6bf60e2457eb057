import { createHash } from 'node:crypto';
import { isCredentialRefusal, type RejectedTokens } from './rejected-tokens.js';

export interface Expiring<V> {
  value: V;
  /** Epoch ms after which the value must not be served. */
  expiresAtMs: number;
}

/**
 * Successful token verifications (TokenReviews, offline JWT checks), keyed by SHA-256 of the token (the token itself is never held as a key), each kept until
 * its own expiry, least recently used evicted first once `maxEntries` is reached. Concurrent lookups of one
 * token share a single in-flight load, so a burst of identical requests costs one verification.
 * With `rejections`, a load that ends in a verdict against the token (UNAUTHENTICATED, PERMISSION_DENIED) is
 * remembered there and repeated; other failures (the API server is unreachable) are not: the next request
 * loads again.
 */
export class TokenCache<V> {
  private readonly entries = new Map<string, Expiring<V>>();
  private readonly inFlight = new Map<string, Promise<V>>();

  constructor(
    private readonly maxEntries: number,
    private readonly rejections?: RejectedTokens,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('TokenCache needs maxEntries >= 1');
  }

  get size(): number {
    return this.entries.size;
  }

  async resolve(token: string, nowMs: number, load: () => Promise<Expiring<V>>): Promise<V> {
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      if (hit.expiresAtMs > nowMs) {
        this.entries.set(key, hit); // re-insert: Map order is the LRU order
        return hit.value;
      }
    }
    const rejected = this.rejections?.get(key, nowMs);
    if (rejected) throw rejected;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = load()
        .then(
          (loaded) => {
            if (loaded.expiresAtMs > nowMs) this.store(key, loaded);
            return loaded.value;
          },
          (err: unknown) => {
            if (isCredentialRefusal(err)) this.rejections?.add(key, err, nowMs);
            throw err;
          },
        )
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private store(key: string, entry: Expiring<V>): void {
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
