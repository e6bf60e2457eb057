import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { JwtAuthority } from '../../core/bundle.js';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { generateKeyPair, keyAlgorithmOf, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { DataStore, JwtKeyRecord } from '../datastore/datastore.js';
import { AsyncMutex } from '../datastore/mutex.js';
import { samePublicKey } from '../../core/x509/chain.js';
import { KeyStore } from './key-store.js';
import { DEFAULT_ROTATION_CHECK_MS } from './signing-ca-rotator.js';
import { nextRotationStep } from './schedule.js';

export const JWT_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export const DEFAULT_JWT_ALGORITHM: JwtAlgorithm = 'ES256';
export const DEFAULT_JWT_KEY_LIFETIME_SECONDS = 24 * 3600;

const KEY_TYPES: Record<JwtAlgorithm, KeyAlgorithm> = {
  ES256: 'ec-p256',
  ES384: 'ec-p384',
  RS256: 'rsa-2048',
  PS256: 'rsa-2048',
};

/** What the JWT-SVID issuer signs with. */
export interface JwtSigningKey {
  kid: string;
  algorithm: JwtAlgorithm;
  privateKey: KeyObject;
}

export interface JwtKeyManagerOptions {
  /** Private keys go to `<dataDir>/keys/jwt-<kid>.pem` (0600). */
  dataDir: string;
  store: DataStore;
  /** Algorithm of newly created keys; an existing key keeps its own until it is rotated out. */
  algorithm?: JwtAlgorithm;
  /** How long one key may sign. Its successor is published at 1/2 and takes over at 5/6 (schedule.ts). */
  keyLifetimeSeconds?: number;
  /** Longest JWT-SVID TTL: a retired key stays in the bundle this long, until every token it signed expired. */
  maxTokenTtlSeconds: number;
  checkIntervalMs?: number;
  now?: () => Date;
  /** Receives failures of timer-driven rotation (the next check retries) and of change listeners. */
  onError?: (error: unknown) => void;
}

/** Key IDs of what one rotation check did. */
export interface JwtRotationResult {
  prepared?: string;
  activated?: string;
  retired?: string;
}

interface State {
  active: JwtSigningKey;
  /** Keys validators must trust: active, prepared, and retired ones whose tokens may still be valid. */
  published: JwtAuthority[];
}

/**
 * Owns the CA's JWT-SVID signing keys: creates one on first start, reuses it on restart (the datastore records
 * each key, its file and its state) and rotates it on the same prepare -> active -> retired schedule as the
 * signing CAs, so a new key reaches every bundle before it signs and an old one stays until its tokens expired.
 */
export class JwtKeyManager {
  private readonly store: DataStore;
  private readonly keyStore: KeyStore;
  private readonly algorithm: JwtAlgorithm;
  private readonly lifetimeMs: number;
  private readonly maxTokenTtlMs: number;
  private readonly checkIntervalMs: number;
  private readonly now: () => Date;
  private readonly onError: (error: unknown) => void;
  private readonly lock = new AsyncMutex();
  private readonly listeners = new Set<() => void>();
  private state: State | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: JwtKeyManagerOptions) {
    const lifetime = options.keyLifetimeSeconds ?? DEFAULT_JWT_KEY_LIFETIME_SECONDS;
    if (!Number.isInteger(lifetime) || lifetime < 60) {
      throw invalidArgument(`keyLifetimeSeconds must be a whole number of seconds >= 60, got ${lifetime}`);
    }
    if (!(options.maxTokenTtlSeconds > 0)) {
      throw invalidArgument(`maxTokenTtlSeconds must be > 0, got ${options.maxTokenTtlSeconds}`);
    }
    this.store = options.store;
    this.keyStore = new KeyStore(options.dataDir);
    this.algorithm = options.algorithm ?? DEFAULT_JWT_ALGORITHM;
    this.lifetimeMs = lifetime * 1000;
    this.maxTokenTtlMs = options.maxTokenTtlSeconds * 1000;
    this.checkIntervalMs = options.checkIntervalMs ?? DEFAULT_ROTATION_CHECK_MS;
    this.now = options.now ?? (() => new Date());
    this.onError = options.onError ?? (() => undefined);
  }

  /** Loads (or on first start creates) the active key, then checks the rotation schedule periodically. */
  async start(): Promise<void> {
    if (this.closed) throw new MeshidError('FAILED_PRECONDITION', 'JWT key manager is closed');
    if (this.timer) throw new MeshidError('FAILED_PRECONDITION', 'JWT key manager is already started');
    await this.rotateIfDue();
    this.scheduleCheck();
  }

  active(): JwtSigningKey {
    return this.current().active;
  }

  /** The JWT authorities of the trust bundle. */
  bundleKeys(): JwtAuthority[] {
    return [...this.current().published];
  }

  /** Called after the published keys changed; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Does whatever the schedule says is due at `now` (the timer calls this; tests pass their clock) and drops
   * retired keys whose tokens have all expired from the bundle. Rereads the datastore each time.
   */
  rotateIfDue(now: Date = this.now()): Promise<JwtRotationResult> {
    return this.lock.run(async () => {
      const result: JwtRotationResult = {};
      for (;;) {
        const keys = await this.store.listJwtKeys();
        const active = keys.find((k) => k.state === 'active');
        const prepared = keys.find((k) => k.state === 'prepared');
        const step = nextRotationStep(
          { active: active && { notBefore: active.createdAt, notAfter: active.notAfter }, hasPrepared: !!prepared },
          now,
        );
        if (!step || (step === 'prepare' && result.prepared)) {
          await this.apply(keys, now);
          return result;
        }
        if (step === 'prepare') {
          result.prepared = (await this.prepare(now)).id;
        } else {
          await this.activate(prepared!.id, now);
          result.activated = prepared!.id;
          if (active) result.retired = active.id;
        }
      }
    });
  }

  /** Stops the schedule and waits for a rotation in progress. Does not close the store. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.lock.run(() => undefined);
  }

  private current(): State {
    if (!this.state) throw new MeshidError('FAILED_PRECONDITION', 'JWT key manager has not been started');
    return this.state;
  }

  /** Creates a key and records it as prepared, unless another server prepared one meanwhile (that one wins). */
  private async prepare(now: Date): Promise<JwtKeyRecord> {
    const { privateKey, publicKey } = generateKeyPair(KEY_TYPES[this.algorithm]);
    const kid = await calculateJwkThumbprint(publicKey, 'sha256');
    const keyPath = await this.keyStore.write(`jwt-${kid}`, privateKey);
    const record: JwtKeyRecord = {
      id: kid,
      state: 'prepared',
      algorithm: this.algorithm,
      publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      keyPath,
      notAfter: new Date(now.getTime() + this.lifetimeMs),
      createdAt: now,
    };
    const winner = await this.store.transaction(async (tx) => {
      const existing = (await tx.listJwtKeys({ state: 'prepared' }))[0];
      if (!existing) await tx.putJwtKey(record);
      return existing ?? record;
    });
    if (winner !== record) await this.keyStore.remove(keyPath);
    return winner;
  }

  /** Activates a prepared key and retires the active one, atomically; a no-op if another server did it. */
  private activate(id: string, now: Date): Promise<void> {
    return this.store.transaction(async (tx) => {
      const target = (await tx.listJwtKeys({ state: 'prepared' })).find((k) => k.id === id);
      if (!target) return;
      const publishedUntil = new Date(now.getTime() + this.maxTokenTtlMs);
      for (const current of await tx.listJwtKeys({ state: 'active' })) {
        await tx.putJwtKey({ ...current, state: 'retired', retiredAt: now, publishedUntil });
      }
      await tx.putJwtKey({ ...target, state: 'active', activatedAt: now });
    });
  }

  /** Adopts what the datastore says, loading the active key if it changed; tells listeners about bundle changes. */
  private async apply(keys: JwtKeyRecord[], now: Date): Promise<void> {
    const record = keys.find((k) => k.state === 'active');
    if (!record) throw new MeshidError('INTERNAL', 'no active JWT signing key after rotation');
    const reuse = this.state?.active.kid === record.id ? this.state.active : undefined;
    const active = reuse ?? (await this.loadSigningKey(record));
    const published = keys
      .filter((k) => k.state !== 'retired' || (k.publishedUntil !== undefined && k.publishedUntil > now))
      .map((k) => ({ keyId: k.id, publicKey: createPublicKey(k.publicKeyPem) }));
    const previous = this.state?.published.map((k) => k.keyId).join(',');
    this.state = { active, published };
    if (previous === undefined || previous === published.map((k) => k.keyId).join(',')) return;
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private async loadSigningKey(record: JwtKeyRecord): Promise<JwtSigningKey> {
    const what = `JWT signing key ${record.id}`;
    const algorithm = JWT_ALGORITHMS.find((a) => a === record.algorithm);
    if (!algorithm) {
      throw new MeshidError('FAILED_PRECONDITION', `${what} has unsupported algorithm "${record.algorithm}"`, 'jwt_key_state');
    }
    const privateKey = await this.keyStore.read(record.keyPath);
    if (!samePublicKey(privateKey, createPublicKey(record.publicKeyPem)) || keyAlgorithmOf(privateKey) !== KEY_TYPES[algorithm]) {
      throw new MeshidError('FAILED_PRECONDITION', `the key file of ${what} does not match its record`, 'key_mismatch');
    }
    return { kid: record.id, algorithm, privateKey };
  }

  private scheduleCheck(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.rotateIfDue()
        .catch(this.onError)
        .finally(() => this.scheduleCheck());
    }, this.checkIntervalMs);
    this.timer.unref();
  }
}
