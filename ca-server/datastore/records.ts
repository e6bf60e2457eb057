import { MeshidError } from '../../core/errors.js';
import type {
  AgentBan,
  AgentRecord,
  AuthorityRecord,
  AuthorityState,
  ConsumeJoinTokenResult,
  JoinTokenRecord,
  JwtKeyRecord,
  RegistrationEntry,
} from './datastore.js';

export type Row = Record<string, unknown>;

/** How a backend stores the two column types the schema has besides text and integers. */
export interface ColumnTypes {
  /** SQLite: integer milliseconds since the epoch; PostgreSQL: timestamptz (pg reads it back as a Date). */
  fromDate(date: Date): unknown;
  toDate(value: unknown): Date;
  /** SQLite: a JSON array in text; PostgreSQL: text[]. */
  fromStrings(list: readonly string[]): unknown;
  toStrings(value: unknown): string[];
}

/**
 * Records <-> rows for both backends: `*Params` give the named statement parameters (`@tokenHash`, ...),
 * `to*` read a row (snake_case columns) back into a record.
 */
export class RecordMapping {
  constructor(private readonly types: ColumnTypes) {}

  joinTokenParams(t: JoinTokenRecord): Row {
    return {
      id: t.id,
      tokenHash: t.tokenHash,
      spiffeId: t.spiffeId,
      createdAt: this.date(t.createdAt),
      expiresAt: this.date(t.expiresAt),
      usedAt: this.date(t.usedAt),
      revokedAt: this.date(t.revokedAt),
    };
  }

  toJoinToken(r: Row): JoinTokenRecord {
    return withOptional(
      {
        id: r.id as string,
        tokenHash: r.token_hash as string,
        spiffeId: r.spiffe_id as string,
        createdAt: this.types.toDate(r.created_at),
        expiresAt: this.types.toDate(r.expires_at),
      },
      { usedAt: this.optionalDate(r.used_at), revokedAt: this.optionalDate(r.revoked_at) },
    );
  }

  agentParams(a: AgentRecord): Row {
    return {
      spiffeId: a.spiffeId,
      attestationType: a.attestationType,
      serialNumber: a.serialNumber,
      newSerialNumber: a.newSerialNumber ?? null,
      expiresAt: this.date(a.expiresAt),
      attestedAt: this.date(a.attestedAt),
      lastSeenAt: this.date(a.lastSeenAt),
      selectors: this.types.fromStrings(a.selectors),
    };
  }

  renewalParams(spiffeId: string, r: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): Row {
    return { spiffeId, newSerialNumber: r.newSerialNumber, expiresAt: this.date(r.expiresAt), lastSeenAt: this.date(r.lastSeenAt) };
  }

  toAgent(r: Row): AgentRecord {
    return withOptional(
      {
        spiffeId: r.spiffe_id as string,
        attestationType: r.attestation_type as string,
        serialNumber: r.serial_number as string,
        expiresAt: this.types.toDate(r.expires_at),
        attestedAt: this.types.toDate(r.attested_at),
        lastSeenAt: this.types.toDate(r.last_seen_at),
        selectors: this.types.toStrings(r.selectors),
      },
      { newSerialNumber: (r.new_serial_number as string | null) ?? undefined },
    );
  }

  banParams(b: AgentBan): Row {
    return { spiffeId: b.spiffeId, bannedAt: this.date(b.bannedAt), reason: b.reason };
  }

  toBan(r: Row): AgentBan {
    return { spiffeId: r.spiffe_id as string, bannedAt: this.types.toDate(r.banned_at), reason: r.reason as string };
  }

  entryParams(e: RegistrationEntry): Row {
    return {
      id: e.id,
      spiffeId: e.spiffeId,
      parentId: e.parentId,
      selectors: this.types.fromStrings(e.selectors),
      ttlSeconds: e.ttlSeconds,
      dnsNames: this.types.fromStrings(e.dnsNames),
      createdAt: this.date(e.createdAt),
    };
  }

  toEntry(r: Row): RegistrationEntry {
    return {
      id: r.id as string,
      spiffeId: r.spiffe_id as string,
      parentId: r.parent_id as string,
      selectors: this.types.toStrings(r.selectors),
      ttlSeconds: r.ttl_seconds as number,
      dnsNames: this.types.toStrings(r.dns_names),
      createdAt: this.types.toDate(r.created_at),
    };
  }

  authorityParams(a: AuthorityRecord): Row {
    return {
      id: a.id,
      kind: a.kind,
      state: a.state,
      upstream: a.upstream,
      certificatePem: a.certificatePem,
      keyPath: a.keyPath ?? null,
      upstreamRootsPem: a.upstreamRootsPem ?? null,
      notBefore: this.date(a.notBefore),
      notAfter: this.date(a.notAfter),
      createdAt: this.date(a.createdAt),
      activatedAt: this.date(a.activatedAt),
      retiredAt: this.date(a.retiredAt),
    };
  }

  toAuthority(r: Row): AuthorityRecord {
    return withOptional(
      {
        id: r.id as string,
        kind: r.kind as AuthorityRecord['kind'],
        state: r.state as AuthorityState,
        upstream: r.upstream as string,
        certificatePem: r.certificate_pem as string,
        notBefore: this.types.toDate(r.not_before),
        notAfter: this.types.toDate(r.not_after),
        createdAt: this.types.toDate(r.created_at),
      },
      {
        keyPath: r.key_path ?? undefined,
        upstreamRootsPem: r.upstream_roots_pem ?? undefined,
        activatedAt: this.optionalDate(r.activated_at),
        retiredAt: this.optionalDate(r.retired_at),
      },
    );
  }

  jwtKeyParams(k: JwtKeyRecord): Row {
    return {
      id: k.id,
      state: k.state,
      algorithm: k.algorithm,
      publicKeyPem: k.publicKeyPem,
      keyPath: k.keyPath,
      notAfter: this.date(k.notAfter),
      createdAt: this.date(k.createdAt),
      activatedAt: this.date(k.activatedAt),
      retiredAt: this.date(k.retiredAt),
      publishedUntil: this.date(k.publishedUntil),
    };
  }

  toJwtKey(r: Row): JwtKeyRecord {
    return withOptional(
      {
        id: r.id as string,
        state: r.state as AuthorityState,
        algorithm: r.algorithm as string,
        publicKeyPem: r.public_key_pem as string,
        keyPath: r.key_path as string,
        notAfter: this.types.toDate(r.not_after),
        createdAt: this.types.toDate(r.created_at),
      },
      {
        activatedAt: this.optionalDate(r.activated_at),
        retiredAt: this.optionalDate(r.retired_at),
        publishedUntil: this.optionalDate(r.published_until),
      },
    );
  }

  private date(d: Date | undefined): unknown {
    return d === undefined ? null : this.types.fromDate(d);
  }

  private optionalDate(v: unknown): Date | undefined {
    return v === null ? undefined : this.types.toDate(v);
  }
}

/** Why a join token that could not be consumed was refused; `token` is its row, if there is one. */
export function consumeRefusal(token: JoinTokenRecord | undefined): ConsumeJoinTokenResult {
  if (!token) return { ok: false, reason: 'unknown' };
  // An admin's revocation is the most useful answer, then "someone used it", then plain expiry.
  if (token.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
  if (token.usedAt !== undefined) return { ok: false, reason: 'used' };
  return { ok: false, reason: 'expired' };
}

export const duplicateJoinToken = (t: JoinTokenRecord) =>
  new MeshidError('ALREADY_EXISTS', `a join token with id "${t.id}" or the same token text already exists`, 'already_exists');

export const duplicateEntry = (e: RegistrationEntry) =>
  new MeshidError('ALREADY_EXISTS', `a registration entry with id "${e.id}" already exists`, 'already_exists');

/** Optional fields are left out rather than set to undefined, so records compare equal to what was stored. */
function withOptional<T extends object>(base: T, optional: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}
