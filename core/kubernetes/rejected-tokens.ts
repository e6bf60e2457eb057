import { MeshidError } from '../errors.js';

export interface RejectedTokensConfig {
  /** How long a refused token is answered from memory. */
  ttlMs: number;
  maxEntries: number;
}

/** A verdict against the credential (as opposed to a failure to reach a verdict, e.g. UNAVAILABLE). */
export function isCredentialRefusal(err: unknown): err is MeshidError {
  return err instanceof MeshidError && (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED');
}

/**
 * Verdicts against tokens (TokenReview said no, the signature did not verify), by the same SHA-256 key the
 * TokenCache uses, so a client or a flood repeating one bad token costs one verification per `ttlMs` and is
 * answered with the very same error meanwhile. Oldest entries are dropped first beyond `maxEntries`.
 */
export class RejectedTokens {
  private readonly entries = new Map<string, { error: MeshidError; expiresAtMs: number }>();

  constructor(private readonly config: RejectedTokensConfig) {
    if (!(config.ttlMs > 0) || !Number.isInteger(config.maxEntries) || config.maxEntries < 1) {
      throw new RangeError('RejectedTokens needs ttlMs > 0 and maxEntries >= 1');
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The error `key`'s token was refused with, while that verdict is fresh. */
  get(key: string, nowMs: number): MeshidError | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.error;
    this.entries.delete(key);
    return undefined;
  }

  add(key: string, error: MeshidError, nowMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { error, expiresAtMs: nowMs + this.config.ttlMs });
    if (this.entries.size > this.config.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
