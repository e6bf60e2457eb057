import { MeshidError } from '../../core/errors.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { certificatesFromPem, fingerprint } from '../../core/x509/chain.js';
import { authorityId, collectRoots, type JournalAuthority, type SigningAuthority, type TrustBundle } from './signing-authority.js';

/**
 * The authority journal as the manager last read it, and what follows from it: the trust bundle, the state
 * of a root rotation, when the old root may be retired, and what `meshid ca rotate status` shows.
 */

/** A journaled root (self-signed root rotation) with its certificate parsed. */
export interface JournalRoot {
  record: AuthorityRecord;
  certificate: x509.X509Certificate;
  fingerprint: string;
}

export interface AuthoritySnapshot {
  active: { signing: SigningAuthority; journal: JournalAuthority };
  /** The schedule's next signing CA (under the root that signs now). */
  prepared?: JournalAuthority;
  /** Retired signing CAs still in the bundle: not expired, and their root not retired. */
  retired: JournalAuthority[];
  /** Every signing CA read: prepared, active, and retired ones not yet expired. */
  intermediates: JournalAuthority[];
  roots: JournalRoot[];
  /** A root rotation in progress: the prepared root and the signing CA prepared under it. */
  next?: { root: JournalRoot; intermediate?: JournalAuthority };
}

/** idle: one root; prepared: the next root is published, not signing; activated: the old root is still published. */
export type RootRotationPhase = 'idle' | 'prepared' | 'activated';
export const ROOT_ROTATION_PHASES: readonly RootRotationPhase[] = ['idle', 'prepared', 'activated'];

/** As operators see it: `old` no longer signs but is still in the bundle, `retired` is out of it. */
export type AuthorityStatusState = 'prepared' | 'active' | 'old' | 'retired';

export interface AuthorityStatus {
  id: string;
  kind: 'root' | 'intermediate';
  state: AuthorityStatusState;
  upstream: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  activatedAt?: Date;
  retiredAt?: Date;
  /** Intermediates: the root they chain to. */
  rootId?: string;
}

/**
 * Leaves are signed synchronously with whatever signing CA is active when the call runs, and the switch to a
 * new one lands a few milliseconds after the journal records it: this covers those stragglers.
 */
export const ISSUANCE_MARGIN_MS = 1000;

export function parseRootRecord(record: AuthorityRecord): JournalRoot {
  const [certificate] = certificatesFromPem(record.certificatePem, `journal root ${record.id}`);
  return { record, certificate: certificate!, fingerprint: fingerprint(certificate!) };
}

export const anchorFingerprint = (authority: JournalAuthority): string => fingerprint(authority.anchor);

/** Roots still journaled active that no longer anchor the signing CA: what `retire` takes out of the bundle. */
export function oldRoots(s: AuthoritySnapshot): JournalRoot[] {
  const signing = anchorFingerprint(s.active.journal);
  return s.roots.filter((r) => r.record.state === 'active' && r.fingerprint !== signing);
}

export function rotationPhase(s: AuthoritySnapshot): RootRotationPhase {
  if (s.next) return 'prepared';
  return oldRoots(s).length > 0 ? 'activated' : 'idle';
}

/**
 * When the last SVID signed under the old roots expires: for every signing CA under them that ever signed,
 * the earlier of its own expiry and its retirement plus the longest SVID TTL. Undefined when none could
 * still have a valid SVID out (then retiring is safe now).
 */
export function retireSafeAt(s: AuthoritySnapshot, maxSvidTtlMs: number): Date | undefined {
  const old = new Set(oldRoots(s).map((r) => r.fingerprint));
  let latest: number | undefined;
  for (const a of s.intermediates) {
    const { activatedAt, retiredAt, notAfter } = a.record;
    if (!old.has(anchorFingerprint(a)) || !activatedAt || !retiredAt) continue;
    const until = Math.min(notAfter.getTime(), retiredAt.getTime() + maxSvidTtlMs + ISSUANCE_MARGIN_MS);
    latest = Math.max(latest ?? until, until);
  }
  return latest === undefined ? undefined : new Date(latest);
}

/**
 * Roots of the active, prepared and still-published signing CAs (retired ones until they expire at `now`)
 * and of journaled roots not retired, each once.
 */
export function bundleOf(s: AuthoritySnapshot, now: Date): TrustBundle {
  const live = s.retired.filter((a) => a.record.notAfter > now);
  const authorities = [s.active.journal, ...(s.prepared ? [s.prepared] : []), ...(s.next?.intermediate ? [s.next.intermediate] : []), ...live];
  const roots = collectRoots(authorities);
  const seen = new Set(roots.map(fingerprint));
  for (const root of s.roots) {
    if (root.record.state !== 'retired' && !seen.has(root.fingerprint)) {
      seen.add(root.fingerprint);
      roots.push(root.certificate);
    }
  }
  return { roots };
}

/**
 * Every root and signing CA with its state as operators see it, roots first, each in journal order (oldest
 * first): journaled roots, plus the roots signing CAs chain to when those are not journaled (upstreams that
 * manage their own roots).
 */
export function authorityStatuses(s: AuthoritySnapshot): AuthorityStatus[] {
  const published = new Set(s.retired);
  const intermediates = s.intermediates.map((a): AuthorityStatus => ({
    ...common(a.record, a.chain[0]!),
    kind: 'intermediate',
    state: a.record.state === 'retired' ? (published.has(a) ? 'old' : 'retired') : a.record.state,
    rootId: authorityId(a.anchor),
  }));
  const signing = anchorFingerprint(s.active.journal);
  const roots = s.roots.map((r): AuthorityStatus => ({
    ...common(r.record, r.certificate),
    kind: 'root',
    state: r.record.state === 'active' && r.fingerprint !== signing ? 'old' : r.record.state,
  }));
  const journaled = new Set(s.roots.map((r) => r.fingerprint));
  const derived = new Map<string, AuthorityStatus>();
  for (const [i, a] of s.intermediates.entries()) {
    const key = anchorFingerprint(a);
    if (journaled.has(key)) continue;
    const state = intermediates[i]!.state;
    const seen = derived.get(key);
    if (seen && STATE_RANK[seen.state] <= STATE_RANK[state]) continue;
    derived.set(key, {
      id: authorityId(a.anchor),
      kind: 'root',
      state,
      upstream: a.record.upstream,
      subject: a.anchor.subject,
      notBefore: a.anchor.notBefore,
      notAfter: a.anchor.notAfter,
    });
  }
  return [...roots, ...derived.values(), ...intermediates];
}

/** Throws when the journal cannot describe a consistent set of authorities. */
export function checkSingleActive(records: AuthorityRecord[]): void {
  const active = records.filter((r) => r.kind === 'intermediate' && r.state === 'active');
  if (active.length > 1) {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `the authority journal has ${active.length} active signing authorities (${active.map((r) => r.id).join(', ')})`,
      'authority_state',
    );
  }
}

/** Lower is more alive: a root shows the most alive state of the signing CAs under it. */
const STATE_RANK: Record<AuthorityStatusState, number> = { active: 0, prepared: 1, old: 2, retired: 3 };

function common(record: AuthorityRecord, certificate: x509.X509Certificate) {
  return {
    id: record.id,
    upstream: record.upstream,
    subject: certificate.subject,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    ...(record.activatedAt ? { activatedAt: record.activatedAt } : {}),
    ...(record.retiredAt ? { retiredAt: record.retiredAt } : {}),
  };
}
