import type { JwtSvidMaterial } from './identity-source.js';

interface Cached {
  svid: JwtSvidMaterial;
  /** Reuse until then: half the token's remaining lifetime when it was minted. */
  freshUntil: number;
}

/**
 * JWT-SVIDs by identity and audience set, reused for the first half of their lifetime so a busy workload
 * does not cost a CA call per request. Concurrent requests for one token share one mint. LRU-bounded.
 */
export class JwtSvidCache {
  private readonly cached = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<JwtSvidMaterial>>();

  constructor(private readonly maxEntries: number) {}

  get(identityKey: string, audience: readonly string[], mint: () => Promise<JwtSvidMaterial>): Promise<JwtSvidMaterial> {
    const key = `${identityKey}\n${[...new Set(audience)].sort().join('\n')}`;
    const now = Date.now();
    const hit = this.cached.get(key);
    if (hit && hit.freshUntil > now) {
      this.cached.delete(key);
      this.cached.set(key, hit);
      return Promise.resolve(hit.svid);
    }
    let inflight = this.pending.get(key);
    if (!inflight) {
      inflight = mint().then(
        (svid) => {
          this.pending.delete(key);
          this.store(key, { svid, freshUntil: now + (svid.expiresAt.getTime() - now) / 2 });
          return svid;
        },
        (err: unknown) => {
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, inflight);
    }
    return inflight;
  }

  private store(key: string, value: Cached): void {
    this.cached.delete(key);
    this.cached.set(key, value);
    for (const oldest of this.cached.keys()) {
      if (this.cached.size <= this.maxEntries) break;
      this.cached.delete(oldest);
    }
  }
}
