import { invalidArgument, MeshidError } from '../../core/errors.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { UpstreamAuthority } from '../../plugins/upstream/upstream-authority.js';
import type { DataStore } from '../datastore/datastore.js';
import { AsyncMutex } from '../datastore/mutex.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import type { x509 } from '../../core/x509/peculiar.js';
import { certificatesToPem } from './chain.js';
import { AuthorityJournal, type NewAuthority } from './journal.js';
import { KeyStore } from './key-store.js';
import { discardAuthority, mintAuthority, prepareAuthority, type PrepareContext } from './prepare.js';
import {
  anchorFingerprint,
  authorityStatuses,
  bundleOf,
  checkSingleActive,
  oldRoots,
  parseRootRecord,
  retireSafeAt,
  rotationPhase,
  type AuthoritySnapshot,
  type AuthorityStatus,
  type RootRotationPhase,
} from './root-rotation-state.js';
import { nextRotationStep } from './schedule.js';
import {
  authorityId,
  fingerprint,
  parseJournalRecord,
  toSigningAuthority,
  type JournalAuthority,
  type SigningAuthority,
  type TrustBundle,
} from './signing-authority.js';

export type { SigningAuthority, TrustBundle } from './signing-authority.js';
export type { AuthorityStatus, RootRotationPhase } from './root-rotation-state.js';

/** 7 days: long enough that lifetime/6 (28 h, the activation lead) exceeds the 24 h maximum SVID TTL. */
export const DEFAULT_INTERMEDIATE_TTL_SECONDS = 7 * 24 * 3600;
/** The default svid.maxTtl: how long an SVID signed under a deactivated root may stay valid. */
export const DEFAULT_MAX_SVID_TTL_SECONDS = 24 * 3600;
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

export interface AuthorityChange {
  active: SigningAuthority;
  bundle: TrustBundle;
  activeChanged: boolean;
  bundleChanged: boolean;
}

/** A root rotation as `meshid ca rotate status` shows it. */
export interface RootRotationView {
  /** Upstream authority plugin in use; only those with prepareRoot (self-signed) rotate roots here. */
  upstream: string;
  phase: RootRotationPhase;
  authorities: AuthorityStatus[];
  /** Phase prepared: the next root. */
  nextRoot?: { id: string; fingerprint: string };
  /** Phase activated: from when retiring is safe; undefined when it already is. */
  retireSafeAt?: Date;
}

/** Journal ids of what one rotation check did. */
export interface RotationResult {
  prepared?: string;
  activated?: string;
  retired?: string;
}

/** The journal as last read, with the active authority's key loaded (none on first start). */
type Loaded = Omit<AuthoritySnapshot, 'active'> & Partial<Pick<AuthoritySnapshot, 'active'>>;
type State = AuthoritySnapshot;

/**
 * Owns meshid's signing CAs: creates the first one on first start, reuses it (same key file, same root) on
 * restart, and rotates on the SPIRE schedule (see schedule.ts): prepare the next authority, publish its roots,
 * activate it, retire the previous one. Retired authorities stay in the trust bundle until they expire, which
 * is never before the SVIDs they signed.
 *
 * Root rotation (upstreams that let meshid hold the root, i.e. self-signed) is driven by the operator:
 * prepare (a new root and a signing CA under it, both published), activate (signing switches to them), retire
 * (the old root and its signing CAs leave the bundle). The journal records every step, so a restart resumes
 * where it stopped; the schedule keeps rotating signing CAs under whichever root signs meanwhile.
 */
export class AuthorityManager {
  private readonly journal: AuthorityJournal;
  private readonly keyStore: KeyStore;
  private readonly prepareContext: PrepareContext;
  private readonly lock = new AsyncMutex();
  private readonly listeners = new Set<(change: AuthorityChange) => void>();
  private readonly checkIntervalMs: number;
  private readonly maxSvidTtlMs: number;
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
    const maxSvidTtl = options.maxSvidTtlSeconds ?? DEFAULT_MAX_SVID_TTL_SECONDS;
    if (!(maxSvidTtl > 0)) throw invalidArgument(`maxSvidTtlSeconds must be > 0, got ${maxSvidTtl}`);
    this.maxSvidTtlMs = maxSvidTtl * 1000;
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

  /**
   * Roots of the active and prepared authorities, of retired ones not yet expired (unless their root was
   * retired), and of journaled roots not retired; each once, the signing root first.
   */
  trustBundle(): TrustBundle {
    return bundleOf(this.current(), this.now());
  }

  /** ID of the root the active signing CA chains to: agents re-issue every SVID when it changes. */
  activeRootId(): string {
    return authorityId(this.current().active.journal.anchor);
  }

  /** Every root and signing CA, the root rotation phase, and when retiring the old root becomes safe. */
  rootRotation(): RootRotationView {
    const state = this.current();
    const phase = rotationPhase(state);
    const safeAt = phase === 'activated' ? retireSafeAt(state, this.maxSvidTtlMs) : undefined;
    return {
      upstream: this.prepareContext.upstream.name,
      phase,
      authorities: authorityStatuses(state),
      ...(state.next ? { nextRoot: { id: state.next.root.record.id, fingerprint: state.next.root.fingerprint } } : {}),
      ...(safeAt ? { retireSafeAt: safeAt } : {}),
    };
  }

  /**
   * Root rotation, step 1: the upstream creates the next root, a signing CA is minted under it, and both are
   * journaled as prepared and published in the trust bundle. Nothing is signed under them yet.
   */
  prepareRootRotation(now: Date = this.now()): Promise<{ rootId: string; intermediateId: string }> {
    const { upstream } = this.prepareContext;
    return this.lock.run(async () => {
      const loaded = this.started(await this.load(this.state, now));
      if (!upstream.prepareRoot) {
        throw rotationRefused(
          `the root is managed by the "${upstream.name}" upstream authority; rotate it there ` +
            '(meshid follows via onRootsChanged/onUpstreamChanged)',
          'root_external',
        );
      }
      const from = loaded.active.journal.record.upstream;
      if (from !== upstream.name) {
        throw rotationRefused(`the active signing CA comes from the "${from}" upstream, not "${upstream.name}"; wait until the schedule replaces it`);
      }
      if (loaded.next) throw rotationRefused(`root ${loaded.next.root.record.id} is already prepared; activate it (meshid ca rotate activate)`);
      const old = oldRoots(loaded);
      if (old.length > 0) {
        throw rotationRefused(`the previous root rotation is not finished: retire root ${old[0]!.record.id} first (meshid ca rotate retire)`);
      }
      const root = await upstream.prepareRoot();
      const intermediate = await mintAuthority(this.prepareContext, now, root.certificate);
      try {
        await this.journal.recordRootRotation(
          {
            current: rootEntry(loaded.active.journal.anchor, upstream.name),
            root: rootEntry(root.certificate, upstream.name, root.keyPath),
            intermediate,
          },
          now,
        );
      } catch (err) {
        await discardAuthority(this.prepareContext, intermediate);
        throw err;
      }
      this.adopt(await this.load(loaded, now), now);
      return { rootId: authorityId(root.certificate), intermediateId: intermediate.id };
    });
  }

  /**
   * Root rotation, step 2: the prepared root's signing CA starts signing (re-minted first if it expired
   * meanwhile; the root is already published) and the previous signing CAs are retired. The old root stays in
   * the bundle. `expectRootId` guards against acting on another root than the caller checked.
   */
  activateRootRotation(options: { expectRootId?: string } = {}, now: Date = this.now()): Promise<{ rootId: string; intermediateId: string }> {
    return this.lock.run(async () => {
      const loaded = this.started(await this.load(this.state, now));
      const next = loaded.next;
      if (!next) {
        throw rotationRefused(
          rotationPhase(loaded) === 'activated'
            ? 'the prepared root is already active; retire the old one when it is safe (meshid ca rotate retire)'
            : 'no root rotation is prepared; start one with meshid ca rotate prepare',
        );
      }
      if (options.expectRootId !== undefined && options.expectRootId !== next.root.record.id) {
        throw rotationRefused(`the prepared root is ${next.root.record.id}, not ${options.expectRootId}; check again`);
      }
      const usable = next.intermediate && next.intermediate.record.notAfter > now ? next.intermediate : undefined;
      if (next.intermediate && !usable) await this.journal.retire(next.intermediate.record.id, now);
      const intermediateId =
        usable?.record.id ??
        (await prepareAuthority(this.prepareContext, now, { root: next.root.certificate, sameSlot: this.sameRootSlot(next.root.fingerprint) })).id;
      await this.journal.activateRoot(next.root.record.id, intermediateId, now);
      this.adopt(await this.load(loaded, now), now);
      return { rootId: next.root.record.id, intermediateId };
    });
  }

  /**
   * Root rotation, step 3: the old root and every signing CA under it leave the trust bundle. Refused while an
   * SVID signed under it may still be valid (see retireSafeAt), unless `force`.
   */
  retireRootRotation(options: { force?: boolean } = {}, now: Date = this.now()): Promise<{ retired: string[] }> {
    return this.lock.run(async () => {
      const loaded = this.started(await this.load(this.state, now));
      const old = oldRoots(loaded);
      if (old.length === 0) {
        throw rotationRefused(
          loaded.next
            ? `root ${loaded.next.root.record.id} is prepared but not active yet; activate it first (meshid ca rotate activate)`
            : 'there is no old root to retire: no root rotation is in progress',
        );
      }
      const safeAt = retireSafeAt(loaded, this.maxSvidTtlMs);
      if (!options.force && safeAt && now < safeAt) {
        throw rotationRefused(
          `SVIDs signed under the old root ${old.map((r) => r.record.id).join(', ')} may be valid until ${safeAt.toISOString()} ` +
            `(its signing CA stopped signing, plus svid.maxTtl ${this.maxSvidTtlMs / 1000}s); retire after that, ` +
            'or pass --force (those SVIDs then fail verification at once)',
          'root_in_use',
        );
      }
      for (const root of old) await this.journal.retireRoot(root.record.id, now);
      this.adopt(await this.load(loaded, now), now);
      return { retired: old.map((r) => r.record.id) };
    });
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
          result.prepared = (await this.prepareScheduled(loaded, now)).id;
        } else {
          result.activated = (await this.journal.activate(loaded.prepared!.record.id, now)).id;
          if (loaded.active) result.retired = loaded.active.signing.id;
        }
        loaded = await this.load(loaded, now);
      }
      this.adopt(loaded, now);
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

  private started(loaded: Loaded): State {
    if (!loaded.active) throw new MeshidError('FAILED_PRECONDITION', 'authority manager has not been started');
    return { ...loaded, active: loaded.active };
  }

  /** Makes what was loaded the current state and tells listeners what changed. */
  private adopt(loaded: Loaded, now: Date): void {
    if (!loaded.active) throw new MeshidError('INTERNAL', 'no active signing authority after rotation');
    this.state = this.started(loaded);
    this.publishIfChanged(this.state, now);
  }

  /**
   * The schedule's next signing CA. Once meshid holds its roots (root rotation), it is minted under the root
   * that signs now, and competes only with other signing CAs prepared under that root.
   */
  private prepareScheduled(loaded: Loaded, now: Date): Promise<AuthorityRecord> {
    const root = this.scheduleRoot(loaded);
    return prepareAuthority(this.prepareContext, now, root ? { root, sameSlot: this.sameRootSlot(fingerprint(root)) } : {});
  }

  private scheduleRoot(loaded: Loaded): x509.X509Certificate | undefined {
    const { upstream } = this.prepareContext;
    if (!upstream.prepareRoot) return undefined;
    if (loaded.active) return loaded.active.journal.record.upstream === upstream.name ? loaded.active.journal.anchor : undefined;
    // The active signing CA expired while the server was down: keep to the newest journaled root.
    const roots = loaded.roots.filter((r) => r.record.state === 'active' && r.record.upstream === upstream.name);
    return roots.sort((a, b) => (a.record.activatedAt?.getTime() ?? 0) - (b.record.activatedAt?.getTime() ?? 0)).at(-1)?.certificate;
  }

  /** Prepared signing CAs compete for one slot per root. */
  private sameRootSlot(rootFingerprint: string): (other: AuthorityRecord) => boolean {
    return (other) => other.kind !== 'intermediate' || anchorFingerprint(parseJournalRecord(other)) === rootFingerprint;
  }

  /**
   * The upstream now signs with another CA: replaces the prepared authority (minted from the old one) by a new
   * one and, when its roots are already in the bundle (so every verifier trusts its chain), activates it at
   * once. New roots must reach every agent first, so then it activates on the normal schedule.
   */
  private async reissueFromUpstream(loaded: State, now: Date, result: RotationResult): Promise<Loaded> {
    const trusted = new Set(bundleOf(loaded, now).roots.map(fingerprint));
    if (loaded.prepared) await this.journal.retire(loaded.prepared.record.id, now);
    result.prepared = (await this.prepareScheduled(loaded, now)).id;
    const next = await this.load(loaded, now);
    if (!next.prepared?.roots.every((root) => trusted.has(fingerprint(root)))) return next;
    result.activated = (await this.journal.activate(result.prepared, now)).id;
    result.retired = loaded.active.signing.id;
    return this.load(next, now);
  }

  /**
   * Reads the journal; reuses the already loaded key when the active authority has not changed. Signing CAs
   * prepared under a prepared root belong to the root rotation, others to the schedule.
   */
  private async load(previous: Loaded | undefined, now: Date): Promise<Loaded> {
    const records = await this.journal.list();
    checkSingleActive(records);
    const roots = records.filter((r) => r.kind === 'root').map(parseRootRecord);
    const intermediates = records
      .filter((r) => r.kind === 'intermediate' && (r.state !== 'retired' || r.notAfter > now))
      .map(parseJournalRecord);
    const nextRoot = roots.find((r) => r.record.state === 'prepared');
    const prepared = intermediates.filter((a) => a.record.state === 'prepared');
    const nextIntermediate = nextRoot && prepared.find((a) => anchorFingerprint(a) === nextRoot.fingerprint);
    const retiredRoots = new Set(roots.filter((r) => r.record.state === 'retired').map((r) => r.fingerprint));
    const loaded: Loaded = {
      prepared: prepared.find((a) => a !== nextIntermediate),
      retired: intermediates.filter((a) => a.record.state === 'retired' && !retiredRoots.has(anchorFingerprint(a))),
      intermediates,
      roots,
      ...(nextRoot ? { next: { root: nextRoot, ...(nextIntermediate ? { intermediate: nextIntermediate } : {}) } } : {}),
    };
    const active = intermediates.find((a) => a.record.state === 'active');
    if (active) {
      const reuse = previous?.active?.signing.id === active.record.id ? previous.active.signing : undefined;
      loaded.active = { journal: active, signing: reuse ?? (await this.loadSigningKey(active)) };
    }
    return loaded;
  }

  private async loadSigningKey(authority: JournalAuthority): Promise<SigningAuthority> {
    const { keyPath, id } = authority.record;
    if (!keyPath) throw new MeshidError('FAILED_PRECONDITION', `journal authority ${id} has no key file recorded`);
    return toSigningAuthority(authority, await this.keyStore.read(keyPath));
  }

  private publishIfChanged(state: State, now: Date): void {
    const bundle = bundleOf(state, now);
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

const rotationRefused = (message: string, reason = 'authority_state') => new MeshidError('FAILED_PRECONDITION', message, reason);

/** A root as a journal entry; its ID is the hex SKI of its key, like every other authority's. */
function rootEntry(certificate: x509.X509Certificate, upstream: string, keyPath?: string): NewAuthority {
  return {
    id: authorityId(certificate),
    kind: 'root',
    upstream,
    certificatePem: certificatesToPem([certificate]),
    ...(keyPath ? { keyPath } : {}),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}
