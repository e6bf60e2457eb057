import { invalidArgument } from '../../core/errors.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { UpstreamAuthority } from '../../plugins/api/upstream-authority.js';
import type { DataStore } from '../datastore/datastore.js';
import { AuthorityJournal } from './journal.js';
import { KeyStore } from './key-store.js';
import type { PrepareContext } from './prepare.js';
import { bundleOf } from './root-rotation-state.js';
import { RootRotator, type RootRotationView } from './root-rotator.js';
import { SigningCaRotator, type RotationResult } from './signing-ca-rotator.js';
import { authorityId, type SigningAuthority, type TrustBundle } from './signing-authority.js';
import { AuthoritySlots, type AuthorityChange } from './slots.js';

export type { SigningAuthority, TrustBundle } from './signing-authority.js';
export type { AuthorityChange } from './slots.js';

/** 7 days: long enough that lifetime/6 (28 h, the activation lead) exceeds the 24 h maximum SVID TTL. */
export const DEFAULT_INTERMEDIATE_TTL_SECONDS = 7 * 24 * 3600;
/** The default svid.maxTtl: how long an SVID signed under a deactivated root may stay valid. */
export const DEFAULT_MAX_SVID_TTL_SECONDS = 24 * 3600;

export interface AuthorityManagerOptions {
  /** Signing keys go to `<dataDir>/keys/`. */
  dataDir: string;
  trustDomain: TrustDomain;
  store: DataStore;
  /** Already started by the caller, who also closes it after the manager. */
  upstream: UpstreamAuthority;
  keyAlgorithm?: KeyAlgorithm;
  /** Requested lifetime of each signing CA; the upstream may shorten it (never past its root). */
  intermediateTtlSeconds?: number;
  /** Subject of the signing-CA CSR; default "O=meshid, CN=meshid intermediate <td>". */
  subject?: string;
  /**
   * Longest TTL of any X509-SVID the CA issues (svid.maxTtl, which also caps agent SVIDs): a root rotation's
   * old root may be retired this long after the last signing CA under it stopped signing.
   */
  maxSvidTtlSeconds?: number;
  checkIntervalMs?: number;
  now?: () => Date;
  /** Receives failures of timer-driven rotation (the next check retries) and of change listeners. */
  onError?: (error: unknown) => void;
}

/**
 * Owns meshid's signing CAs, as SPIRE's CA manager splits it: the journal (journal.ts) records every authority
 * and its state, the slots (slots.ts) hold what it says now (the active signing CA with its key, the next
 * ones, the trust bundle's roots), the signing-CA rotator (signing-ca-rotator.ts) runs the schedule, and the
 * root rotator (root-rotator.ts) runs the operator's root rotation. Retired authorities stay in the trust
 * bundle until they expire, which is never before the SVIDs they signed.
 */
export class AuthorityManager {
  private readonly slots: AuthoritySlots;
  private readonly signingCas: SigningCaRotator;
  private readonly roots: RootRotator;
  private readonly now: () => Date;

  constructor(options: AuthorityManagerOptions) {
    const ttlSeconds = options.intermediateTtlSeconds ?? DEFAULT_INTERMEDIATE_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60) {
      throw invalidArgument(`intermediateTtlSeconds must be a whole number of seconds >= 60, got ${ttlSeconds}`);
    }
    const maxSvidTtl = options.maxSvidTtlSeconds ?? DEFAULT_MAX_SVID_TTL_SECONDS;
    if (!(maxSvidTtl > 0)) throw invalidArgument(`maxSvidTtlSeconds must be > 0, got ${maxSvidTtl}`);
    this.now = options.now ?? (() => new Date());
    const onError = options.onError ?? (() => undefined);
    const journal = new AuthorityJournal(options.store);
    const keyStore = new KeyStore(options.dataDir);
    const prepare: PrepareContext = {
      upstream: options.upstream,
      trustDomain: options.trustDomain,
      journal,
      keyStore,
      keyAlgorithm: options.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM,
      ttlSeconds,
      subject: options.subject ?? `O=meshid, CN=meshid intermediate ${options.trustDomain.name}`,
    };
    this.slots = new AuthoritySlots({ journal, keyStore, onError });
    this.signingCas = new SigningCaRotator({ slots: this.slots, prepare, checkIntervalMs: options.checkIntervalMs, now: this.now, onError });
    this.roots = new RootRotator({ slots: this.slots, prepare, maxSvidTtlMs: maxSvidTtl * 1000 });
  }

  /** Loads (or on first start creates) the active authority, then checks the rotation schedule periodically. */
  start(): Promise<void> {
    return this.signingCas.start();
  }

  active(): SigningAuthority {
    return this.slots.current().active.signing;
  }

  /**
   * Roots of the active and prepared authorities, of retired ones not yet expired (unless their root was
   * retired), and of journaled roots not retired; each once, the signing root first.
   */
  trustBundle(): TrustBundle {
    return bundleOf(this.slots.current(), this.now());
  }

  /** ID of the root the active signing CA chains to: agents re-issue every SVID when it changes. */
  activeRootId(): string {
    return authorityId(this.slots.current().active.journal.anchor);
  }

  /** For metrics: when the active authority's root and the active signing CA expire. */
  expiries(): { root: Date; intermediate: Date } {
    const { active } = this.slots.current();
    return { root: active.journal.anchor.notAfter, intermediate: active.signing.notAfter };
  }

  /** Called after the active authority or the bundle changed; returns an unsubscribe function. */
  onChange(listener: (change: AuthorityChange) => void): () => void {
    return this.slots.onChange(listener);
  }

  /** The signing-CA schedule at `now` (the timer calls this; tests pass their clock). See SigningCaRotator. */
  rotateIntermediateIfDue(now: Date = this.now()): Promise<RotationResult> {
    return this.signingCas.rotateIfDue(now);
  }

  /** The operator's root rotation: its state, then the prepare, activate and retire steps (see RootRotator). */
  rootRotation(): RootRotationView {
    return this.roots.view();
  }

  prepareRootRotation(now: Date = this.now()): Promise<{ rootId: string; intermediateId: string }> {
    return this.roots.prepare(now);
  }

  activateRootRotation(options: { expectRootId?: string } = {}, now: Date = this.now()): Promise<{ rootId: string; intermediateId: string }> {
    return this.roots.activate(options, now);
  }

  retireRootRotation(options: { force?: boolean } = {}, now: Date = this.now()): Promise<{ retired: string[] }> {
    return this.roots.retire(options, now);
  }

  /** Stops the schedule and waits for a rotation in progress. Does not close the store or the upstream. */
  async close(): Promise<void> {
    this.signingCas.stop();
    await this.slots.exclusive(async () => undefined);
  }
}
