import { backoffDelayMs } from '../../core/backoff.js';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { fingerprint } from '../../core/x509/chain.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { prepareAuthority, type PrepareContext } from './prepare.js';
import { bundleOf, type AuthoritySnapshot } from './root-rotation-state.js';
import { nextRotationStep } from './schedule.js';
import { sameRootSlot, type AuthoritySlots, type LoadedJournal } from './slots.js';

/** How often the rotation schedule is checked (SPIRE checks every 10 s; rotation points are hours apart). */
export const DEFAULT_ROTATION_CHECK_MS = 30_000;
/** Longest wait between checks after failed ones (upstream down or refusing): each failure doubles the wait. */
export const MAX_RETRY_MS = 5 * 60_000;

/** Journal ids of what one rotation check did. */
export interface RotationResult {
  prepared?: string;
  activated?: string;
  retired?: string;
}

/**
 * Runs the signing-CA schedule (see schedule.ts) from its own timer: creates the first signing CA on first
 * start, then prepares the next one, activates it (retiring the previous one) and, when the upstream reports
 * that it signs with another CA, replaces the prepared one. Once meshid holds its roots (root rotation), each
 * signing CA is minted under the root that signs now.
 */
export class SigningCaRotator {
  private readonly checkIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Consecutive failed timer checks, for the retry backoff. */
  private failures = 0;
  /** Set when the upstream reports that it signs with another CA; cleared once a new authority is minted. */
  private upstreamChanged = false;
  private unsubscribeUpstream: (() => void) | undefined;

  constructor(
    private readonly deps: {
      slots: AuthoritySlots;
      prepare: PrepareContext;
      checkIntervalMs?: number;
      now: () => Date;
      /** Receives failures of timer-driven and upstream-triggered checks (the next check retries). */
      onError: (error: unknown) => void;
    },
  ) {
    this.checkIntervalMs = deps.checkIntervalMs ?? DEFAULT_ROTATION_CHECK_MS;
    if (!(this.checkIntervalMs > 0)) throw invalidArgument(`checkIntervalMs must be > 0, got ${this.checkIntervalMs}`);
  }

  /** Does what is due now (on first start: creates the first signing CA), then checks periodically. */
  async start(): Promise<void> {
    if (this.closed) throw new MeshidError('FAILED_PRECONDITION', 'authority manager is closed');
    if (this.timer) throw new MeshidError('FAILED_PRECONDITION', 'authority manager is already started');
    await this.rotateIfDue();
    this.unsubscribeUpstream = this.deps.prepare.upstream.onUpstreamChanged?.(() => {
      this.upstreamChanged = true;
      this.rotateIfDue().catch(this.deps.onError); // on failure the next timer check retries
    });
    this.scheduleCheck();
  }

  /**
   * Does whatever the schedule says is due at `now`, at most one prepare per call. Rereads the journal each
   * time, so it sees what another process recorded.
   */
  rotateIfDue(now: Date = this.deps.now()): Promise<RotationResult> {
    const { slots, prepare } = this.deps;
    return slots.exclusive(async () => {
      const result: RotationResult = {};
      let loaded = await slots.read(now);
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
          result.activated = (await prepare.journal.activate(loaded.prepared!.record.id, now)).id;
          if (loaded.active) result.retired = loaded.active.signing.id;
        }
        loaded = await slots.read(now, loaded);
      }
      slots.adopt(loaded, now);
      return result;
    });
  }

  /** Stops the timer and the upstream subscription; a check in progress still finishes. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribeUpstream?.();
  }

  /** The schedule's next signing CA; under a root meshid holds, it competes only with others under that root. */
  private prepareScheduled(loaded: LoadedJournal, now: Date): Promise<AuthorityRecord> {
    const root = this.scheduleRoot(loaded);
    return prepareAuthority(this.deps.prepare, now, root ? { root, sameSlot: sameRootSlot(fingerprint(root)) } : {});
  }

  private scheduleRoot(loaded: LoadedJournal): x509.X509Certificate | undefined {
    const { upstream } = this.deps.prepare;
    if (!upstream.prepareRoot) return undefined;
    if (loaded.active) return loaded.active.journal.record.upstream === upstream.name ? loaded.active.journal.anchor : undefined;
    // The active signing CA expired while the server was down: keep to the newest journaled root.
    const roots = loaded.roots.filter((r) => r.record.state === 'active' && r.record.upstream === upstream.name);
    return roots.sort((a, b) => (a.record.activatedAt?.getTime() ?? 0) - (b.record.activatedAt?.getTime() ?? 0)).at(-1)?.certificate;
  }

  /**
   * The upstream now signs with another CA: replaces the prepared authority (minted from the old one) by a new
   * one and, when its roots are already in the bundle (so every verifier trusts its chain), activates it at
   * once. New roots must reach every agent first, so then it activates on the normal schedule.
   */
  private async reissueFromUpstream(loaded: AuthoritySnapshot, now: Date, result: RotationResult): Promise<LoadedJournal> {
    const { slots, prepare } = this.deps;
    const trusted = new Set(bundleOf(loaded, now).roots.map(fingerprint));
    if (loaded.prepared) await prepare.journal.retire(loaded.prepared.record.id, now);
    result.prepared = (await this.prepareScheduled(loaded, now)).id;
    const next = await slots.read(now, loaded);
    if (!next.prepared?.roots.every((root) => trusted.has(fingerprint(root)))) return next;
    result.activated = (await prepare.journal.activate(result.prepared, now)).id;
    result.retired = loaded.active.signing.id;
    return slots.read(now, next);
  }

  private scheduleCheck(): void {
    if (this.closed) return;
    const delay = backoffDelayMs(this.failures, { initialMs: this.checkIntervalMs, maxMs: Math.max(this.checkIntervalMs, MAX_RETRY_MS) });
    this.timer = setTimeout(() => {
      this.rotateIfDue()
        .then(
          () => (this.failures = 0),
          (err: unknown) => {
            this.failures++;
            this.deps.onError(err);
          },
        )
        .finally(() => this.scheduleCheck());
    }, delay);
    this.timer.unref();
  }
}
