import { MeshidError } from '../../core/errors.js';
import { fingerprint } from '../../core/x509/chain.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { AsyncMutex } from '../datastore/mutex.js';
import type { AuthorityJournal } from './journal.js';
import type { KeyStore } from './key-store.js';
import { anchorFingerprint, bundleOf, checkSingleActive, parseRootRecord, type AuthoritySnapshot } from './root-rotation-state.js';
import { parseJournalRecord, toSigningAuthority, type JournalAuthority, type SigningAuthority, type TrustBundle } from './signing-authority.js';

export interface AuthorityChange {
  active: SigningAuthority;
  bundle: TrustBundle;
  activeChanged: boolean;
  bundleChanged: boolean;
}

/** The journal as just read, with the active authority's key loaded (none on first start). */
export type LoadedJournal = Omit<AuthoritySnapshot, 'active'> & Partial<Pick<AuthoritySnapshot, 'active'>>;

/**
 * The authority slots as the journal last recorded them: the current signing CA (active, its key loaded), the
 * schedule's next one (prepared), a root rotation's next root with the signing CA prepared under it, and the
 * retired ones still in the bundle. The rotators change the journal one at a time (`exclusive`), read it back
 * and adopt what they read; listeners hear when the active authority or the bundle's roots changed.
 */
export class AuthoritySlots {
  private readonly lock = new AsyncMutex();
  private readonly listeners = new Set<(change: AuthorityChange) => void>();
  private state: AuthoritySnapshot | undefined;
  private published: { activeId: string; bundleKey: string } | undefined;

  constructor(
    private readonly deps: {
      journal: AuthorityJournal;
      keyStore: KeyStore;
      /** Receives failures of change listeners. */
      onError: (error: unknown) => void;
    },
  ) {}

  /** Runs journal changes one at a time, in call order. */
  exclusive<T>(section: () => Promise<T>): Promise<T> {
    return this.lock.run(section);
  }

  /** The adopted state; throws before the first adopt. */
  current(): AuthoritySnapshot {
    if (!this.state) throw notStarted();
    return this.state;
  }

  /** What was read, once it has an active authority (what the root rotation steps need). */
  requireActive(loaded: LoadedJournal): AuthoritySnapshot {
    if (!loaded.active) throw notStarted();
    return { ...loaded, active: loaded.active };
  }

  onChange(listener: (change: AuthorityChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reads the journal; reuses the already loaded key when the active authority has not changed. Signing CAs
   * prepared under a prepared root belong to the root rotation, others to the schedule.
   */
  async read(now: Date, previous: LoadedJournal | undefined = this.state): Promise<LoadedJournal> {
    const records = await this.deps.journal.list();
    checkSingleActive(records);
    const roots = records.filter((r) => r.kind === 'root').map(parseRootRecord);
    const intermediates = records
      .filter((r) => r.kind === 'intermediate' && (r.state !== 'retired' || r.notAfter > now))
      .map(parseJournalRecord);
    const nextRoot = roots.find((r) => r.record.state === 'prepared');
    const prepared = intermediates.filter((a) => a.record.state === 'prepared');
    const nextIntermediate = nextRoot && prepared.find((a) => anchorFingerprint(a) === nextRoot.fingerprint);
    const retiredRoots = new Set(roots.filter((r) => r.record.state === 'retired').map((r) => r.fingerprint));
    const loaded: LoadedJournal = {
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

  /** Makes what was read the current state and tells listeners what changed. */
  adopt(loaded: LoadedJournal, now: Date): void {
    if (!loaded.active) throw new MeshidError('INTERNAL', 'no active signing authority after rotation');
    this.state = this.requireActive(loaded);
    this.publishIfChanged(this.state, now);
  }

  private async loadSigningKey(authority: JournalAuthority): Promise<SigningAuthority> {
    const { keyPath, id } = authority.record;
    if (!keyPath) throw new MeshidError('FAILED_PRECONDITION', `journal authority ${id} has no key file recorded`);
    return toSigningAuthority(authority, await this.deps.keyStore.read(keyPath));
  }

  private publishIfChanged(state: AuthoritySnapshot, now: Date): void {
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
        this.deps.onError(err);
      }
    }
  }
}

/** Prepared signing CAs compete for one slot per root (see AuthorityJournal.recordPrepared). */
export function sameRootSlot(rootFingerprint: string): (other: AuthorityRecord) => boolean {
  return (other) => other.kind !== 'intermediate' || anchorFingerprint(parseJournalRecord(other)) === rootFingerprint;
}

const notStarted = () => new MeshidError('FAILED_PRECONDITION', 'authority manager has not been started');
