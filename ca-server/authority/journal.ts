import { MeshidError } from '../../core/errors.js';
import type { AuthorityRecord, AuthorityState, DataStore } from '../datastore/datastore.js';

export type NewAuthority = Omit<AuthorityRecord, 'state' | 'createdAt' | 'activatedAt' | 'retiredAt'>;
type Kind = AuthorityRecord['kind'];

/**
 * The authority journal: which signing CAs (and roots) exist and where each is in its life,
 * prepared -> active -> retired. Every transition reads and writes in one DataStore transaction, so two
 * servers sharing a store cannot both activate.
 */
export class AuthorityJournal {
  constructor(private readonly store: DataStore) {}

  list(filter: { state?: AuthorityState; kind?: Kind } = {}): Promise<AuthorityRecord[]> {
    return this.store.listAuthorities(filter);
  }

  /** Records a freshly minted authority as prepared; at most one prepared authority per kind at a time. */
  recordPrepared(authority: NewAuthority, now: Date): Promise<AuthorityRecord> {
    return this.store.transaction(async (tx) => {
      const all = await tx.listAuthorities({ kind: authority.kind });
      if (all.some((a) => a.id === authority.id)) {
        throw new MeshidError('ALREADY_EXISTS', `authority ${authority.id} is already in the journal`);
      }
      const pending = all.find((a) => a.state === 'prepared');
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
