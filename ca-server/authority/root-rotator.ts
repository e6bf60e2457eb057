import { MeshidError } from '../../core/errors.js';
import { certificatesToPem } from '../../core/x509/chain.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { NewAuthority } from './journal.js';
import { discardAuthority, mintAuthority, prepareAuthority, type PrepareContext } from './prepare.js';
import { authorityStatuses, oldRoots, retireSafeAt, rotationPhase, type AuthorityStatus, type RootRotationPhase } from './root-rotation-state.js';
import { authorityId } from './signing-authority.js';
import { sameRootSlot, type AuthoritySlots } from './slots.js';

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

/**
 * Root rotation, for upstreams that let meshid hold the root (self-signed), driven by the operator: prepare
 * (a new root and a signing CA under it, both published), activate (signing switches to them), retire (the
 * old root and its signing CAs leave the bundle). The journal records every step, so a restart resumes where
 * it stopped; the signing-CA schedule keeps rotating under whichever root signs meanwhile.
 */
export class RootRotator {
  constructor(
    private readonly deps: {
      slots: AuthoritySlots;
      prepare: PrepareContext;
      /** svid.maxTtl: how long after its signing CA stopped signing an SVID under the old root may be valid. */
      maxSvidTtlMs: number;
    },
  ) {}

  /** Every root and signing CA, the root rotation phase, and when retiring the old root becomes safe. */
  view(): RootRotationView {
    const state = this.deps.slots.current();
    const phase = rotationPhase(state);
    const safeAt = phase === 'activated' ? retireSafeAt(state, this.deps.maxSvidTtlMs) : undefined;
    return {
      upstream: this.deps.prepare.upstream.name,
      phase,
      authorities: authorityStatuses(state),
      ...(state.next ? { nextRoot: { id: state.next.root.record.id, fingerprint: state.next.root.fingerprint } } : {}),
      ...(safeAt ? { retireSafeAt: safeAt } : {}),
    };
  }

  /**
   * Step 1: the upstream creates the next root, a signing CA is minted under it, and both are journaled as
   * prepared and published in the trust bundle. Nothing is signed under them yet.
   */
  prepare(now: Date): Promise<{ rootId: string; intermediateId: string }> {
    const { slots, prepare } = this.deps;
    const { upstream } = prepare;
    return slots.exclusive(async () => {
      const loaded = slots.requireActive(await slots.read(now));
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
      const intermediate = await mintAuthority(prepare, now, root.certificate);
      try {
        await prepare.journal.recordRootRotation(
          {
            current: rootEntry(loaded.active.journal.anchor, upstream.name),
            root: rootEntry(root.certificate, upstream.name, root.keyPath),
            intermediate,
          },
          now,
        );
      } catch (err) {
        await discardAuthority(prepare, intermediate);
        throw err;
      }
      slots.adopt(await slots.read(now, loaded), now);
      return { rootId: authorityId(root.certificate), intermediateId: intermediate.id };
    });
  }

  /**
   * Step 2: the prepared root's signing CA starts signing (re-minted first if it expired meanwhile; the root
   * is already published) and the previous signing CAs are retired. The old root stays in the bundle.
   * `expectRootId` guards against acting on another root than the caller checked.
   */
  activate(options: { expectRootId?: string }, now: Date): Promise<{ rootId: string; intermediateId: string }> {
    const { slots, prepare } = this.deps;
    return slots.exclusive(async () => {
      const loaded = slots.requireActive(await slots.read(now));
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
      if (next.intermediate && !usable) await prepare.journal.retire(next.intermediate.record.id, now);
      const intermediateId =
        usable?.record.id ?? (await prepareAuthority(prepare, now, { root: next.root.certificate, sameSlot: sameRootSlot(next.root.fingerprint) })).id;
      await prepare.journal.activateRoot(next.root.record.id, intermediateId, now);
      slots.adopt(await slots.read(now, loaded), now);
      return { rootId: next.root.record.id, intermediateId };
    });
  }

  /**
   * Step 3: the old root and every signing CA under it leave the trust bundle. Refused while an SVID signed
   * under it may still be valid (see retireSafeAt), unless `force`.
   */
  retire(options: { force?: boolean }, now: Date): Promise<{ retired: string[] }> {
    const { slots, prepare, maxSvidTtlMs } = this.deps;
    return slots.exclusive(async () => {
      const loaded = slots.requireActive(await slots.read(now));
      const old = oldRoots(loaded);
      if (old.length === 0) {
        throw rotationRefused(
          loaded.next
            ? `root ${loaded.next.root.record.id} is prepared but not active yet; activate it first (meshid ca rotate activate)`
            : 'there is no old root to retire: no root rotation is in progress',
        );
      }
      const safeAt = retireSafeAt(loaded, maxSvidTtlMs);
      if (!options.force && safeAt && now < safeAt) {
        throw rotationRefused(
          `SVIDs signed under the old root ${old.map((r) => r.record.id).join(', ')} may be valid until ${safeAt.toISOString()} ` +
            `(its signing CA stopped signing, plus svid.maxTtl ${maxSvidTtlMs / 1000}s); retire after that, ` +
            'or pass --force (those SVIDs then fail verification at once)',
          'root_in_use',
        );
      }
      for (const root of old) await prepare.journal.retireRoot(root.record.id, now);
      slots.adopt(await slots.read(now, loaded), now);
      return { retired: old.map((r) => r.record.id) };
    });
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
