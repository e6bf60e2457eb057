import { invalidArgument, MeshidError } from '../../core/errors.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { UpstreamAuthority } from '../../plugins/upstream/upstream-authority.js';
import type { DataStore } from '../datastore/datastore.js';
import { AsyncMutex } from '../datastore/mutex.js';
import { AuthorityJournal } from './journal.js';
import { KeyStore } from './key-store.js';
import { prepareAuthority, type PrepareContext } from './prepare.js';
import { nextRotationStep } from './schedule.js';
import {
  collectRoots,
  fingerprint,
  parseJournalRecord,
  toSigningAuthority,
  type JournalAuthority,
  type SigningAuthority,
  type TrustBundle,
} from './signing-authority.js';

export type { SigningAuthority, TrustBundle } from './signing-authority.js';

/** 7 days: long enough that lifetime/6 (28 h, the activation lead) exceeds the 24 h maximum SVID TTL. */
export const DEFAULT_INTERMEDIATE_TTL_SECONDS = 7 * 24 * 3600;
/** How often the rotation schedule is checked (SPIRE checks every 10 s; rotation points are hours apart). */
export const DEFAULT_ROTATION_CHECK_MS = 30_000;
/** Longest wait between checks after failed ones (upstream down or refusing): each failure doubles the wait. */
export const MAX_RETRY_MS = 5 * 60_000;

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
  checkIntervalMs?: number;
  now?: () => Date;
  /** Receives failures of timer-driven rotation (the next check retries) and of change listeners. */
  onError?: (error: unknown) => void;
}

export interface AuthorityChange {
  active: SigningAuthority;
  bundle: TrustBundle;
  activeChanged: boolean;
  bundleChanged: boolean;
}

/** Journal ids of what one rotation check did. */
export interface RotationResult {
  prepared?: string;
  activated?: string;
  retired?: string;
}

/** The journal as last read, with the active authority's key loaded. */
interface Loaded {
  active?: { signing: SigningAuthority; journal: JournalAuthority };
  prepared?: JournalAuthority;
  /** Only those not yet expired when read. */
  retired: JournalAuthority[];
}

type State = Loaded & Required<Pick<Loaded, 'active'>>;

/**
 * Owns meshid's signing CAs: creates the first one on first start, reuses it (same key file, same root) on
 * restart, and rotates on the SPIRE schedule (see schedule.ts): prepare the next authority, publish its roots,
 * activate it, retire the previous one. Retired authorities stay in the trust bundle until they expire, which
 * is never before the SVIDs they signed.
 */
export class AuthorityManager {
  private readonly journal: AuthorityJournal;
  private readonly keyStore: KeyStore;
  private readonly prepareContext: PrepareContext;
  private readonly lock = new AsyncMutex();
  private readonly listeners = new Set<(change: AuthorityChange) => void>();
  private readonly checkIntervalMs: number;
  private readonly now: () => Date;
  private readonly onError: (error: unknown) => void;
  private state: State | undefined;
  private published: { activeId: string; bundleKey: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Consecutive failed timer checks, for the retry backoff. */
  private failures = 0;
  /** Set when the upstream reports that it signs with another CA; cleared once a new authority is minted. */
  private upstreamChanged = false;
  private unsubscribeUpstream: (() => void) | undefined;

  constructor(options: AuthorityManagerOptions) {
    const ttlSeconds = options.intermediateTtlSeconds ?? DEFAULT_INTERMEDIATE_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60) {
      throw invalidArgument(`intermediateTtlSeconds must be a whole number of seconds >= 60, got ${ttlSeconds}`);
    }
    this.checkIntervalMs = options.checkIntervalMs ?? DEFAULT_ROTATION_CHECK_MS;
    if (!(this.checkIntervalMs > 0)) throw invalidArgument(`checkIntervalMs must be > 0, got ${this.checkIntervalMs}`);
    this.now = options.now ?? (() => new Date());
    this.onError = options.onError ?? (() => undefined);
    this.journal = new AuthorityJournal(options.store);
    this.keyStore = new KeyStore(options.dataDir);
    this.prepareContext = {
      upstream: options.upstream,
      trustDomain: options.trustDomain,
      journal: this.journal,
      keyStore: this.keyStore,
      keyAlgorithm: options.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM,
      ttlSeconds,
      subject: options.subject ?? `O=meshid, CN=meshid intermediate ${options.trustDomain.name}`,
    };
  }

  /** Loads (or on first start creates) the active authority, then checks the rotation schedule periodically. */
  async start(): Promise<void> {
    if (this.closed) throw new MeshidError('FAILED_PRECONDITION', 'authority manager is closed');
    if (this.timer) throw new MeshidError('FAILED_PRECONDITION', 'authority manager is already started');
    await this.rotateIntermediateIfDue();
    this.unsubscribeUpstream = this.prepareContext.upstream.onUpstreamChanged?.(() => {
      this.upstreamChanged = true;
      this.rotateIntermediateIfDue().catch(this.onError); // on failure the next timer check retries
    });
    this.scheduleCheck();
  }

  active(): SigningAuthority {
    return this.current().active.signing;
  }

  /** Roots of the active and prepared authorities and of retired ones not yet expired, each once. */
  trustBundle(): TrustBundle {
    return this.bundleAt(this.current(), this.now());
  }

  /** For metrics: when the active authority's root and the active signing CA expire. */
  expiries(): { root: Date; intermediate: Date } {
    const { active } = this.current();
    return { root: active.journal.anchor.notAfter, intermediate: active.signing.notAfter };
  }

  /** Called after the active authority or the bundle changed; returns an unsubscribe function. */
  onChange(listener: (change: AuthorityChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Does whatever the schedule says is due at `now` (the timer calls this; tests pass their clock), at most one
   * prepare per call. Rereads the journal each time, so it sees what another process recorded.
   */
  rotateIntermediateIfDue(now: Date = this.now()): Promise<RotationResult> {
    return this.lock.run(async () => {
      const result: RotationResult = {};
      let loaded = await this.load(this.state, now);
      if (this.upstreamChanged && loaded.active) {
        this.upstreamChanged = false;
        try {
          loaded = await this.reissueFromUpstream({ ...loaded, active: loaded.active }, now, result);
        } catch (err) {
          this.upstreamChanged = true;
          throw err;
        }
      }
      for (;;) {
        const active = loaded.active?.journal.record;
        const step = nextRotationStep({ active, hasPrepared: loaded.prepared !== undefined }, now);
        if (!step || (step === 'prepare' && result.prepared)) break;
        if (step === 'prepare') {
          result.prepared = (await prepareAuthority(this.prepareContext, now)).id;
        } else {
          result.activated = (await this.journal.activate(loaded.prepared!.record.id, now)).id;
          if (loaded.active) result.retired = loaded.active.signing.id;
        }
        loaded = await this.load(loaded, now);
      }
      const { active, prepared, retired } = loaded;
      if (!active) throw new MeshidError('INTERNAL', 'no active signing authority after rotation');
      this.state = { active, prepared, retired };
      this.publishIfChanged(this.state, now);
      return result;
    });
  }

  /** Stops the schedule and waits for a rotation in progress. Does not close the store or the upstream. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribeUpstream?.();
    await this.lock.run(() => undefined);
  }

  private current(): State {
    if (!this.state) throw new MeshidError('FAILED_PRECONDITION', 'authority manager has not been started');
    return this.state;
  }

  /**
   * The upstream now signs with another CA: replaces the prepared authority (minted from the old one) by a new
   * one and, when its roots are already in the bundle (so every verifier trusts its chain), activates it at
   * once. New roots must reach every agent first, so then it activates on the normal schedule.
   */
  private async reissueFromUpstream(loaded: State, now: Date, result: RotationResult): Promise<Loaded> {
    const trusted = new Set(this.bundleAt(loaded, now).roots.map(fingerprint));
    if (loaded.prepared) await this.journal.retire(loaded.prepared.record.id, now);
    result.prepared = (await prepareAuthority(this.prepareContext, now)).id;
    const next = await this.load(loaded, now);
    if (!next.prepared?.roots.every((root) => trusted.has(fingerprint(root)))) return next;
    result.activated = (await this.journal.activate(result.prepared, now)).id;
    result.retired = loaded.active.signing.id;
    return this.load(next, now);
  }

  /** Reads the journal; reuses the already loaded key when the active authority has not changed. */
  private async load(previous: Loaded | undefined, now: Date): Promise<Loaded> {
    const records = await this.journal.list({ kind: 'intermediate' });
    const active = records.filter((r) => r.state === 'active');
    if (active.length > 1) {
      throw new MeshidError(
        'FAILED_PRECONDITION',
        `the authority journal has ${active.length} active signing authorities (${active.map((r) => r.id).join(', ')})`,
        'authority_state',
      );
    }
    const prepared = records.find((r) => r.state === 'prepared');
    const loaded: Loaded = {
      prepared: prepared && parseJournalRecord(prepared),
      retired: records.filter((r) => r.state === 'retired' && r.notAfter > now).map(parseJournalRecord),
    };
    if (active[0]) {
      const journal = parseJournalRecord(active[0]);
      const reuse = previous?.active?.signing.id === active[0].id ? previous.active.signing : undefined;
      loaded.active = { journal, signing: reuse ?? (await this.loadSigningKey(journal)) };
    }
    return loaded;
  }

  private async loadSigningKey(authority: JournalAuthority): Promise<SigningAuthority> {
    const { keyPath, id } = authority.record;
    if (!keyPath) throw new MeshidError('FAILED_PRECONDITION', `journal authority ${id} has no key file recorded`);
    return toSigningAuthority(authority, await this.keyStore.read(keyPath));
  }

  private bundleAt(state: State, now: Date): TrustBundle {
    const live = state.retired.filter((a) => a.record.notAfter > now);
    return { roots: collectRoots([state.active.journal, ...(state.prepared ? [state.prepared] : []), ...live]) };
  }

  private publishIfChanged(state: State, now: Date): void {
    const bundle = this.bundleAt(state, now);
    const next = { activeId: state.active.signing.id, bundleKey: bundle.roots.map(fingerprint).sort().join(',') };
    const previous = this.published;
    this.published = next;
    if (!previous) return; // the state found at start is not a change
    const change: AuthorityChange = {
      active: state.active.signing,
      bundle,
      activeChanged: previous.activeId !== next.activeId,
      bundleChanged: previous.bundleKey !== next.bundleKey,
    };
    if (!change.activeChanged && !change.bundleChanged) return;
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private scheduleCheck(): void {
    if (this.closed) return;
    const delay = Math.min(this.checkIntervalMs * 2 ** this.failures, Math.max(this.checkIntervalMs, MAX_RETRY_MS));
    this.timer = setTimeout(() => {
      this.rotateIntermediateIfDue()
        .then(
          () => (this.failures = 0),
          (err: unknown) => {
            this.failures++;
            this.onError(err);
          },
        )
        .finally(() => this.scheduleCheck());
    }, delay);
    this.timer.unref();
  }
}
