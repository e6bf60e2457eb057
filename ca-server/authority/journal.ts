import { MeshidError } from '../../core/errors.js';
import type { AuthorityRecord, AuthorityState, DataStore } from '../datastore/datastore.js';

export type NewAuthority = Omit<AuthorityRecord, 'state' | 'createdAt' | 'activatedAt' | 'retiredAt'>;
type Kind = AuthorityRecord['kind'];

/**
 * The authority journal: which signing CAs (and roots) exist and where each is in its life,
 * prepared -> active -> retired. Every transition reads and writes in one DataStore transaction, so two
 * servers sharing a store cannot both activate.
 *
 * Roots are journaled only once meshid rotates one (self-signed upstream). A root is prepared (in the bundle,
 * nothing signed under it yet), then active (in the bundle); after a root rotation is activated the previous
 * root stays active, no longer anchoring the signing CA, until it is retired, which takes it (and every
 * signing CA under it) out of the bundle.
 */
export class AuthorityJournal {
  constructor(private readonly store: DataStore) {}

  list(filter: { state?: AuthorityState; kind?: Kind } = {}): Promise<AuthorityRecord[]> {
    return this.store.listAuthorities(filter);
  }

  /**
   * Records a freshly minted authority as prepared. At most one prepared authority per slot: `sameSlot` says
   * which prepared ones compete with it (default: all of the same kind; signing CAs use one slot per root).
   */
  recordPrepared(
    authority: NewAuthority,
    now: Date,
    sameSlot: (other: AuthorityRecord) => boolean = () => true,
  ): Promise<AuthorityRecord> {
    return this.store.transaction(async (tx) => {
      const all = await tx.listAuthorities({ kind: authority.kind });
      if (all.some((a) => a.id === authority.id)) {
        throw new MeshidError('ALREADY_EXISTS', `authority ${authority.id} is already in the journal`);
      }
      const pending = all.find((a) => a.state === 'prepared' && sameSlot(a));
      if (pending) {
        throw new MeshidError(
          'FAILED_PRECONDITION',
          `authority ${pending.id} is already prepared; activate or retire it before preparing another`,
          'authority_state',
        );
      }
      const record: AuthorityRecord = { ...authority, state: 'prepared', createdAt: now };
      await tx.putAuthority(record);
      return record;
    });
  }

  /** Activates a prepared authority and retires the one it replaces (same kind), atomically. */
  activate(id: string, now: Date): Promise<AuthorityRecord> {
    return this.store.transaction(async (tx) => {
      const target = await this.require(tx, id, 'prepared', 'activate');
      for (const current of await tx.listAuthorities({ kind: target.kind, state: 'active' })) {
        await tx.putAuthority({ ...current, state: 'retired', retiredAt: now });
      }
      const activated: AuthorityRecord = { ...target, state: 'active', activatedAt: now };
      await tx.putAuthority(activated);
      return activated;
    });
  }

  /**
   * Starts a root rotation: the next root and a signing CA under it as prepared, plus `current` (the root
   * signing now) as active when it is not journaled yet. Refused while another root rotation is unfinished.
   */
  recordRootRotation(entries: { current?: NewAuthority; root: NewAuthority; intermediate: NewAuthority }, now: Date): Promise<void> {
    return this.store.transaction(async (tx) => {
      const all = await tx.listAuthorities();
      const roots = all.filter((a) => a.kind === 'root');
      const prepared = roots.find((a) => a.state === 'prepared');
      if (prepared) {
        throw rotationState(`root ${prepared.id} is already prepared; activate it first (meshid ca rotate activate)`);
      }
      const active = roots.filter((a) => a.state === 'active');
      if (active.length > 1) {
        throw rotationState(
          `the previous root rotation is not finished: ${active.length} roots are active; retire the old one first (meshid ca rotate retire)`,
        );
      }
      const current = entries.current && !active.some((a) => a.id === entries.current!.id) ? entries.current : undefined;
      for (const entry of [current, entries.root, entries.intermediate]) {
        if (entry && all.some((a) => a.id === entry.id)) {
          throw new MeshidError('ALREADY_EXISTS', `authority ${entry.id} is already in the journal`);
        }
      }
      // it has been in use since it was made, long before the journal learnt of it
      if (current) await tx.putAuthority({ ...current, state: 'active', createdAt: current.notBefore, activatedAt: current.notBefore });
      await tx.putAuthority({ ...entries.root, state: 'prepared', createdAt: now });
      await tx.putAuthority({ ...entries.intermediate, state: 'prepared', createdAt: now });
    });
  }

  /**
   * Activates a prepared root and the signing CA prepared under it, atomically: the active signing CA and every
   * other prepared one (all under the previous root) are retired; the previous root stays active until retireRoot.
   */
  activateRoot(rootId: string, intermediateId: string, now: Date): Promise<void> {
    return this.store.transaction(async (tx) => {
      const root = await this.require(tx, rootId, 'prepared', 'activate');
      const intermediate = await this.require(tx, intermediateId, 'prepared', 'activate');
      if (root.kind !== 'root' || intermediate.kind !== 'intermediate') {
        throw new MeshidError('INTERNAL', `activateRoot needs a root and a signing CA, got a ${root.kind} and a ${intermediate.kind}`);
      }
      for (const other of await tx.listAuthorities({ kind: 'intermediate' })) {
        if (other.id !== intermediateId && (other.state === 'active' || other.state === 'prepared')) {
          await tx.putAuthority({ ...other, state: 'retired', retiredAt: now });
        }
      }
      await tx.putAuthority({ ...root, state: 'active', activatedAt: now });
      await tx.putAuthority({ ...intermediate, state: 'active', activatedAt: now });
    });
  }

  /** Retires an active root that no longer anchors the signing CA: it leaves the bundle with its signing CAs. */
  retireRoot(rootId: string, now: Date): Promise<AuthorityRecord> {
    return this.store.transaction(async (tx) => {
      const root = await this.require(tx, rootId, 'active', 'retire');
      const active = await tx.listAuthorities({ kind: 'root', state: 'active' });
      if (root.kind !== 'root' || active.length < 2) {
        throw rotationState(`cannot retire ${root.kind} ${rootId}: it is the only active root`);
      }
      const retired: AuthorityRecord = { ...root, state: 'retired', retiredAt: now };
      await tx.putAuthority(retired);
      return retired;
    });
  }

  /** Retires a prepared or active authority (it stays in the bundle until it expires). */
  retire(id: string, now: Date): Promise<AuthorityRecord> {
    return this.store.transaction(async (tx) => {
      const target = await this.require(tx, id, ['prepared', 'active'], 'retire');
      const retired: AuthorityRecord = { ...target, state: 'retired', retiredAt: now };
      await tx.putAuthority(retired);
      return retired;
    });
  }

  private async require(
    tx: DataStore,
    id: string,
    allowed: AuthorityState | AuthorityState[],
    action: string,
  ): Promise<AuthorityRecord> {
    const record = (await tx.listAuthorities()).find((a) => a.id === id);
    if (!record) throw new MeshidError('NOT_FOUND', `authority ${id} is not in the journal`, 'authority_unknown');
    const states = Array.isArray(allowed) ? allowed : [allowed];
    if (!states.includes(record.state)) {
      throw new MeshidError(
        'FAILED_PRECONDITION',
        `cannot ${action} authority ${id}: it is ${record.state} (must be ${states.join(' or ')})`,
        'authority_state',
      );
    }
    return record;
  }
}

const rotationState = (message: string) => new MeshidError('FAILED_PRECONDITION', message, 'authority_state');
