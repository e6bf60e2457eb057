import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import { MeshidError } from '../core/errors.js';
import type { KeyAlgorithm } from '../core/x509/keys.js';
import type { WorkloadSVIDRequest } from '../protos/gen/meshid/v1/WorkloadSVIDRequest.js';
import type { CaClient } from './ca-client.js';
import type { X509SvidMaterial } from './identity-source.js';
import { KeyPool } from './key-pool.js';
import { x509Material } from './svid-material.js';
import { renewalDelayMs, timer, type RotationPolicy } from './timing.js';

/** One workload identity the agent asks the CA for on a workload's behalf. */
export interface WorkloadIdentity {
  /** Cache key: the entry ID (VM) or "k8s:" + SHA-256 of the pod token (Kubernetes). */
  key: string;
  workload: { entryId: string } | { k8sToken: string };
}

export interface SvidCacheOptions {
  ca: Pick<CaClient, 'mintWorkloadSvids'>;
  keyAlgorithm: KeyAlgorithm;
  /** Requested SVID TTL; 0 = the CA's default (or the entry's TTL). */
  ttlSeconds: number;
  rotation: RotationPolicy;
  backoff: { initialMs: number; maxMs: number };
  /** LRU bound; identities watched by a stream are never evicted, so the bound can be exceeded by those. */
  maxIdentities: number;
  /** Identities nobody asked for (and nobody watches) for this long are dropped. */
  idleMs: number;
  log: Logger;
  random?: () => number;
}

type Listener = (svid: X509SvidMaterial) => void;

interface Slot {
  readonly identity: WorkloadIdentity;
  material: X509SvidMaterial | undefined;
  pending: Promise<X509SvidMaterial> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When `timer` fires (epoch ms). */
  dueAt: number;
  readonly watchers: Set<Listener>;
  lastUsed: number;
  readonly backoff: Backoff;
}

interface SvidCacheEvents {
  /** First SVID for an identity. */
  issued: [key: string, svid: X509SvidMaterial];
  /** A renewed SVID replaced the cached one (watchers have been told). */
  rotated: [key: string, svid: X509SvidMaterial];
  /** Minting failed; the cached SVID (if still valid) stays in use and a retry follows. */
  'rotation-failed': [key: string, error: MeshidError, retryInMs: number];
  evicted: [key: string];
}

/** The CA's cap on one MintWorkloadSVIDs call. */
const MAX_BATCH = 100;
/** Keys kept ready for first requests (a few kilobytes each). */
const KEY_POOL_SIZE = 16;

/**
 * Workload X509-SVIDs by identity. Keys are generated here (ahead of need) and never leave the node. Concurrent first
 * requests for an identity share one CA call (and first requests arriving together share one batch); each
 * SVID is renewed at the rotation share of its lifetime and watchers get the new one; failures back off and
 * the cached SVID is served until it expires. Bounded by an LRU and an idle timeout.
 */
export class SvidCache extends EventEmitter<SvidCacheEvents> {
  private readonly slots = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly keys: KeyPool;
  private closed = false;

  constructor(private readonly options: SvidCacheOptions) {
    super();
    this.keys = new KeyPool(options.keyAlgorithm, KEY_POOL_SIZE);
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(options.idleMs / 2, 60_000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.slots.size;
  }

  /** SVIDs for `identities`, in order: cached ones at once, the rest minted in one batch. */
  get(identities: readonly WorkloadIdentity[]): Promise<X509SvidMaterial[]> {
    if (this.closed) return Promise.reject(new MeshidError('UNAVAILABLE', 'the node agent is shutting down', 'shutting_down'));
    const now = Date.now();
    const slots = identities.map((identity) => this.touch(identity, now));
    this.mint(slots.filter((slot) => !valid(slot, now) && !slot.pending));
    this.enforceBound();
    return Promise.all(slots.map((slot) => (valid(slot, now) ? slot.material! : slot.pending!)));
  }

  /** Calls `listener` with every new SVID for the identity; keeps it cached (and renewed) while subscribed. */
  watch(identity: WorkloadIdentity, listener: Listener): () => void {
    const slot = this.touch(identity, Date.now());
    slot.watchers.add(listener);
    if (!valid(slot, Date.now()) && !slot.pending && !slot.timer) this.mint([slot]);
    return () => {
      slot.watchers.delete(listener);
      slot.lastUsed = Date.now();
      // Nothing was ever minted for it (e.g. a refused token) and nobody waits any more: stop retrying.
      if (slot.watchers.size === 0 && !slot.material && !slot.pending) this.evict(slot);
    };
  }

  /** Drops these identities at once (their registration entries were deleted): nothing serves or renews them. */
  drop(keys: readonly string[]): void {
    for (const key of keys) {
      const slot = this.slots.get(key);
      if (slot) this.evict(slot);
    }
  }

  /** The cached, unexpired SVID for a key, without counting as use. */
  peek(key: string): X509SvidMaterial | undefined {
    const slot = this.slots.get(key);
    return slot && valid(slot, Date.now()) ? slot.material : undefined;
  }

  /**
   * Re-issues every SVID held, each at a random point within `windowMs` so a fleet's agents do not all call
   * the CA at once: the CA signs under another root, and the old root can leave the bundle only once nothing
   * chains to it. Watchers get the new SVIDs as they arrive.
   */
  reissueAll(windowMs: number): void {
    if (this.closed) return;
    const random = this.options.random ?? Math.random;
    for (const slot of this.slots.values()) {
      if (!slot.material && !slot.pending) continue; // nothing held: a refused identity keeps its own retries
      const delay = random() * windowMs;
      if (slot.timer && slot.dueAt <= Date.now() + delay) continue; // renews sooner anyway
      this.later(slot, delay, () => this.reissue(slot));
    }
  }

  earliestExpiry(): Date | undefined {
    let earliest: Date | undefined;
    for (const { material } of this.slots.values()) {
      if (material && (!earliest || material.notAfter < earliest)) earliest = material.notAfter;
    }
    return earliest;
  }

  close(): void {
    this.closed = true;
    this.keys.close();
    clearInterval(this.sweeper);
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    this.slots.clear();
  }

  /** Drops idle identities; runs on a timer. */
  private sweep(now = Date.now()): void {
    for (const slot of this.slots.values()) if (this.idle(slot, now)) this.evict(slot);
  }

  private touch(identity: WorkloadIdentity, now: number): Slot {
    let slot = this.slots.get(identity.key);
    if (slot) this.slots.delete(identity.key);
    else {
      slot = {
        identity,
        material: undefined,
        pending: undefined,
        timer: undefined,
        dueAt: 0,
        watchers: new Set(),
        lastUsed: now,
        backoff: new Backoff(this.options.backoff, this.options.random),
      };
    }
    slot.lastUsed = now;
    this.slots.set(identity.key, slot); // most recently used last
    return slot;
  }

  private enforceBound(): void {
    for (const slot of this.slots.values()) {
      if (this.slots.size <= this.options.maxIdentities) return;
      if (slot.watchers.size === 0 && !slot.pending) this.evict(slot);
    }
  }

  private idle(slot: Slot, now: number): boolean {
    return slot.watchers.size === 0 && !slot.pending && now - slot.lastUsed >= this.options.idleMs;
  }

  private evict(slot: Slot): void {
    clearTimeout(slot.timer);
    if (this.slots.get(slot.identity.key) === slot) this.slots.delete(slot.identity.key);
    this.emit('evicted', slot.identity.key);
  }

  private mint(slots: Slot[]): void {
    for (let i = 0; i < slots.length; i += MAX_BATCH) {
      const batch = slots.slice(i, i + MAX_BATCH);
      const results = this.mintBatch(batch);
      batch.forEach((slot, j) => {
        clearTimeout(slot.timer);
        slot.timer = undefined;
        // One refused identity fails the CA's whole batch: then each is tried alone so the others still get theirs.
        const pending = results.then(
          (svids) => svids[j]!,
          (err: unknown) => (batch.length > 1 && !isUnavailable(err) ? this.mintBatch([slot]).then(([svid]) => svid!) : Promise.reject(err)),
        );
        slot.pending = pending;
        pending.then(
          (svid) => this.minted(slot, pending, svid),
          (err: unknown) => this.failed(slot, pending, err),
        );
      });
    }
  }

  private async mintBatch(slots: Slot[]): Promise<X509SvidMaterial[]> {
    const keys = await Promise.all(slots.map(() => this.keys.take()));
    const requests: WorkloadSVIDRequest[] = slots.map(({ identity: { workload } }, i) => ({
      csr: keys[i]!.csr,
      ttl_seconds: this.options.ttlSeconds,
      ...('entryId' in workload ? { entry_id: workload.entryId } : { k8s_token: workload.k8sToken }),
    }));
    const svids = await this.options.ca.mintWorkloadSvids(requests);
    return svids.map((svid, i) => x509Material(svid, keys[i]!.privateKey));
  }

  private minted(slot: Slot, pending: Promise<X509SvidMaterial>, svid: X509SvidMaterial): void {
    if (slot.pending === pending) slot.pending = undefined;
    const renewal = slot.material !== undefined;
    slot.material = svid;
    slot.backoff.reset();
    if (this.closed || this.slots.get(slot.identity.key) !== slot) return;
    const delay = renewalDelayMs({ issuedAt: new Date(), notAfter: svid.notAfter }, this.options.rotation, Date.now(), this.options.random);
    this.later(slot, delay, () => this.renew(slot));
    for (const watcher of slot.watchers) watcher(svid);
    this.emit(renewal ? 'rotated' : 'issued', slot.identity.key, svid);
  }

  private failed(slot: Slot, pending: Promise<X509SvidMaterial>, err: unknown): void {
    if (slot.pending === pending) slot.pending = undefined;
    if (this.closed || this.slots.get(slot.identity.key) !== slot) return;
    if (slot.material && !valid(slot, Date.now())) slot.material = undefined;
    if (!slot.material && slot.watchers.size === 0) {
      // A first request that failed: its caller has the error; nothing to keep.
      this.slots.delete(slot.identity.key);
      return;
    }
    const error = err instanceof MeshidError ? err : new MeshidError('INTERNAL', String((err as Error).message ?? err), 'internal');
    const retryInMs = slot.backoff.next();
    this.options.log.warn(
      { identity: slot.identity.key, code: error.code, error: error.message, expiresAt: slot.material?.notAfter, retryInSeconds: Math.round(retryInMs / 100) / 10 },
      'workload SVID renewal failed; serving the cached SVID until it expires',
    );
    this.later(slot, retryInMs, () => this.renew(slot));
    this.emit('rotation-failed', slot.identity.key, error, retryInMs);
  }

  private later(slot: Slot, delayMs: number, run: () => void): void {
    clearTimeout(slot.timer);
    slot.dueAt = Date.now() + delayMs;
    slot.timer = timer(delayMs, run);
  }

  private reissue(slot: Slot): void {
    slot.timer = undefined;
    if (this.slots.get(slot.identity.key) !== slot) return;
    // A mint under way may have been signed before the switch: re-issue again once it is done.
    const again = () => {
      clearTimeout(slot.timer);
      this.renew(slot);
    };
    if (slot.pending) slot.pending.then(again, () => undefined);
    else again();
  }

  private renew(slot: Slot): void {
    slot.timer = undefined;
    if (this.idle(slot, Date.now())) this.evict(slot);
    else if (!slot.pending) this.mint([slot]);
  }
}

function valid(slot: Slot, now: number): boolean {
  return slot.material !== undefined && slot.material.notAfter.getTime() > now;
}

function isUnavailable(err: unknown): boolean {
  return err instanceof MeshidError && err.code === 'UNAVAILABLE';
}
