import type Database from 'better-sqlite3';
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

/**
 * The single statement that makes join tokens single-use: of any number of concurrent callers, on any number
 * of connections, SQLite lets exactly one UPDATE match the row while used_at is still NULL.
 */
export const CONSUME_JOIN_TOKEN_SQL = `UPDATE join_tokens SET used_at = @now
  WHERE token_hash = @tokenHash AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
  RETURNING *`;

type Row = Record<string, unknown>;

/** Synchronous queries on one connection; SqliteDataStore decides when they may run. */
export class SqliteQueries {
  private readonly s: ReturnType<typeof prepareStatements>;

  constructor(db: Database.Database) {
    this.s = prepareStatements(db);
  }

  createJoinToken(t: JoinTokenRecord): void {
    insertUnique(() => this.s.insertToken.run({
      id: t.id,
      tokenHash: t.tokenHash,
      spiffeId: t.spiffeId,
      createdAt: ms(t.createdAt),
      expiresAt: ms(t.expiresAt),
      usedAt: msOrNull(t.usedAt),
      revokedAt: msOrNull(t.revokedAt),
    }), `a join token with id "${t.id}" or the same token text already exists`);
  }

  consumeJoinToken(tokenHash: string, now: Date): ConsumeJoinTokenResult {
    const won = this.s.consumeToken.get({ tokenHash, now: ms(now) }) as Row | undefined;
    if (won) return { ok: true, token: toJoinToken(won) };
    const row = this.s.tokenByHash.get(tokenHash) as Row | undefined;
    if (!row) return { ok: false, reason: 'unknown' };
    // An admin's revocation is the most useful answer, then "someone used it", then plain expiry.
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.used_at !== null) return { ok: false, reason: 'used' };
    return { ok: false, reason: 'expired' };
  }

  listJoinTokens(): JoinTokenRecord[] {
    return (this.s.listTokens.all() as Row[]).map(toJoinToken);
  }

  revokeJoinToken(id: string, now: Date): boolean {
    return this.s.revokeToken.run(ms(now), id).changes > 0;
  }

  upsertAgent(a: AgentRecord): void {
    this.s.upsertAgent.run({
      spiffeId: a.spiffeId,
      attestationType: a.attestationType,
      serialNumber: a.serialNumber,
      expiresAt: ms(a.expiresAt),
      attestedAt: ms(a.attestedAt),
      lastSeenAt: ms(a.lastSeenAt),
      selectors: JSON.stringify(a.selectors),
      newSerialNumber: a.newSerialNumber ?? null,
    });
  }

  getAgent(spiffeId: string): AgentRecord | undefined {
    const row = this.s.getAgent.get(spiffeId) as Row | undefined;
    return row && toAgent(row);
  }

  listAgents(): AgentRecord[] {
    return (this.s.listAgents.all() as Row[]).map(toAgent);
  }

  renewAgent(spiffeId: string, r: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): boolean {
    return this.s.renewAgent.run({ spiffeId, newSerialNumber: r.newSerialNumber, expiresAt: ms(r.expiresAt), lastSeenAt: ms(r.lastSeenAt) }).changes > 0;
  }

  promoteAgentSerial(spiffeId: string, serialNumber: string): boolean {
    return this.s.promoteAgentSerial.run(spiffeId, serialNumber).changes > 0;
  }

  deleteAgent(spiffeId: string): boolean {
    return this.s.deleteAgent.run(spiffeId).changes > 0;
  }

  banAgent(b: AgentBan): void {
    this.s.insertBan.run({ spiffeId: b.spiffeId, bannedAt: ms(b.bannedAt), reason: b.reason });
    this.s.deleteAgent.run(b.spiffeId);
  }

  unbanAgent(spiffeId: string): boolean {
    return this.s.deleteBan.run(spiffeId).changes > 0;
  }

  getAgentBan(spiffeId: string): AgentBan | undefined {
    const row = this.s.getBan.get(spiffeId) as Row | undefined;
    return row && toBan(row);
  }

  listAgentBans(): AgentBan[] {
    return (this.s.listBans.all() as Row[]).map(toBan);
  }

  createEntry(e: RegistrationEntry): void {
    insertUnique(() => this.s.insertEntry.run({
      id: e.id,
      spiffeId: e.spiffeId,
      parentId: e.parentId,
      selectors: JSON.stringify(e.selectors),
      ttlSeconds: e.ttlSeconds,
      dnsNames: JSON.stringify(e.dnsNames),
      createdAt: ms(e.createdAt),
    }), `a registration entry with id "${e.id}" already exists`);
  }

  getEntry(id: string): RegistrationEntry | undefined {
    const row = this.s.getEntry.get(id) as Row | undefined;
    return row && toEntry(row);
  }

  listEntries(filter: { parentId?: string; spiffeId?: string } = {}): RegistrationEntry[] {
    return (this.s.listEntries.all({ parentId: filter.parentId ?? null, spiffeId: filter.spiffeId ?? null }) as Row[]).map(toEntry);
  }

  deleteEntry(id: string): boolean {
    return this.s.deleteEntry.run(id).changes > 0;
  }

  listAuthorities(filter: { state?: AuthorityState; kind?: AuthorityRecord['kind'] } = {}): AuthorityRecord[] {
    const rows = this.s.listAuthorities.all({ state: filter.state ?? null, kind: filter.kind ?? null }) as Row[];
    return rows.map(toAuthority);
  }

  putAuthority(a: AuthorityRecord): void {
    this.s.putAuthority.run({
      id: a.id,
      kind: a.kind,
      state: a.state,
      upstream: a.upstream,
      certificatePem: a.certificatePem,
      keyPath: a.keyPath ?? null,
      upstreamRootsPem: a.upstreamRootsPem ?? null,
      notBefore: ms(a.notBefore),
      notAfter: ms(a.notAfter),
      createdAt: ms(a.createdAt),
      activatedAt: msOrNull(a.activatedAt),
      retiredAt: msOrNull(a.retiredAt),
    });
  }

  listJwtKeys(filter: { state?: AuthorityState } = {}): JwtKeyRecord[] {
    return (this.s.listJwtKeys.all({ state: filter.state ?? null }) as Row[]).map(toJwtKey);
  }

  ping(): void {
    this.s.ping.get();
  }

  putJwtKey(k: JwtKeyRecord): void {
    this.s.putJwtKey.run({
      id: k.id,
      state: k.state,
      algorithm: k.algorithm,
      publicKeyPem: k.publicKeyPem,
      keyPath: k.keyPath,
      notAfter: ms(k.notAfter),
      createdAt: ms(k.createdAt),
      activatedAt: msOrNull(k.activatedAt),
      retiredAt: msOrNull(k.retiredAt),
      publishedUntil: msOrNull(k.publishedUntil),
    });
  }
}

function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    ping: p('SELECT 1'),
    insertToken: p(`INSERT INTO join_tokens (id, token_hash, spiffe_id, created_at, expires_at, used_at, revoked_at)
      VALUES (@id, @tokenHash, @spiffeId, @createdAt, @expiresAt, @usedAt, @revokedAt)`),
    consumeToken: p(CONSUME_JOIN_TOKEN_SQL),
    tokenByHash: p('SELECT * FROM join_tokens WHERE token_hash = ?'),
    listTokens: p('SELECT * FROM join_tokens ORDER BY created_at, id'),
    revokeToken: p('UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
    upsertAgent: p(`INSERT INTO agents (spiffe_id, attestation_type, serial_number, new_serial_number, expires_at,
        attested_at, last_seen_at, selectors)
      VALUES (@spiffeId, @attestationType, @serialNumber, @newSerialNumber, @expiresAt, @attestedAt, @lastSeenAt,
        @selectors)
      ON CONFLICT (spiffe_id) DO UPDATE SET attestation_type = excluded.attestation_type,
        serial_number = excluded.serial_number, new_serial_number = excluded.new_serial_number,
        expires_at = excluded.expires_at, attested_at = excluded.attested_at,
        last_seen_at = excluded.last_seen_at, selectors = excluded.selectors`),
    getAgent: p('SELECT * FROM agents WHERE spiffe_id = ?'),
    listAgents: p('SELECT * FROM agents ORDER BY spiffe_id'),
    renewAgent: p(`UPDATE agents SET new_serial_number = @newSerialNumber, expires_at = @expiresAt,
        last_seen_at = @lastSeenAt WHERE spiffe_id = @spiffeId`),
    promoteAgentSerial: p(`UPDATE agents SET serial_number = new_serial_number, new_serial_number = NULL
      WHERE spiffe_id = ? AND new_serial_number = ?`),
    deleteAgent: p('DELETE FROM agents WHERE spiffe_id = ?'),
    insertBan: p(`INSERT INTO agent_bans (spiffe_id, banned_at, reason) VALUES (@spiffeId, @bannedAt, @reason)
      ON CONFLICT (spiffe_id) DO NOTHING`),
    deleteBan: p('DELETE FROM agent_bans WHERE spiffe_id = ?'),
    getBan: p('SELECT * FROM agent_bans WHERE spiffe_id = ?'),
    listBans: p('SELECT * FROM agent_bans ORDER BY spiffe_id'),
    insertEntry: p(`INSERT INTO registration_entries (id, spiffe_id, parent_id, selectors, ttl_seconds, dns_names, created_at)
      VALUES (@id, @spiffeId, @parentId, @selectors, @ttlSeconds, @dnsNames, @createdAt)`),
    getEntry: p('SELECT * FROM registration_entries WHERE id = ?'),
    listEntries: p(`SELECT * FROM registration_entries WHERE (@parentId IS NULL OR parent_id = @parentId)
        AND (@spiffeId IS NULL OR spiffe_id = @spiffeId)
      ORDER BY created_at, id`),
    deleteEntry: p('DELETE FROM registration_entries WHERE id = ?'),
    putAuthority: p(`INSERT INTO authorities (id, kind, state, upstream, certificate_pem, key_path, upstream_roots_pem,
        not_before, not_after, created_at, activated_at, retired_at)
      VALUES (@id, @kind, @state, @upstream, @certificatePem, @keyPath, @upstreamRootsPem, @notBefore, @notAfter,
        @createdAt, @activatedAt, @retiredAt)
      ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state, upstream = excluded.upstream,
        certificate_pem = excluded.certificate_pem, key_path = excluded.key_path,
        upstream_roots_pem = excluded.upstream_roots_pem, not_before = excluded.not_before,
        not_after = excluded.not_after, created_at = excluded.created_at, activated_at = excluded.activated_at,
        retired_at = excluded.retired_at`),
    listAuthorities: p(`SELECT * FROM authorities
      WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)
      ORDER BY created_at, id`),
    putJwtKey: p(`INSERT INTO jwt_keys (id, state, algorithm, public_key_pem, key_path, not_after, created_at,
        activated_at, retired_at, published_until)
      VALUES (@id, @state, @algorithm, @publicKeyPem, @keyPath, @notAfter, @createdAt, @activatedAt, @retiredAt,
        @publishedUntil)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, algorithm = excluded.algorithm,
        public_key_pem = excluded.public_key_pem, key_path = excluded.key_path, not_after = excluded.not_after,
        created_at = excluded.created_at, activated_at = excluded.activated_at, retired_at = excluded.retired_at,
        published_until = excluded.published_until`),
    listJwtKeys: p('SELECT * FROM jwt_keys WHERE (@state IS NULL OR state = @state) ORDER BY created_at, id'),
  };
}

function insertUnique(insert: () => unknown, message: string): void {
  try {
    insert();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new MeshidError('ALREADY_EXISTS', message, 'already_exists');
    }
    throw err;
  }
}

const ms = (d: Date): number => d.getTime();
const msOrNull = (d: Date | undefined): number | null => (d === undefined ? null : d.getTime());
const date = (v: unknown): Date => new Date(v as number);
const optionalDate = (v: unknown): Date | undefined => (v === null ? undefined : new Date(v as number));
const strings = (v: unknown): string[] => JSON.parse(v as string) as string[];

/** Optional fields are left out rather than set to undefined, so records compare equal to what was stored. */
function withOptional<T extends object>(base: T, optional: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}

function toJoinToken(r: Row): JoinTokenRecord {
  return withOptional(
    {
      id: r.id as string,
      tokenHash: r.token_hash as string,
      spiffeId: r.spiffe_id as string,
      createdAt: date(r.created_at),
      expiresAt: date(r.expires_at),
    },
    { usedAt: optionalDate(r.used_at), revokedAt: optionalDate(r.revoked_at) },
  );
}

function toAgent(r: Row): AgentRecord {
  return withOptional(
    {
      spiffeId: r.spiffe_id as string,
      attestationType: r.attestation_type as string,
      serialNumber: r.serial_number as string,
      expiresAt: date(r.expires_at),
      attestedAt: date(r.attested_at),
      lastSeenAt: date(r.last_seen_at),
      selectors: strings(r.selectors),
    },
    { newSerialNumber: (r.new_serial_number as string | null) ?? undefined },
  );
}

function toBan(r: Row): AgentBan {
  return { spiffeId: r.spiffe_id as string, bannedAt: date(r.banned_at), reason: r.reason as string };
}

function toEntry(r: Row): RegistrationEntry {
  return {
    id: r.id as string,
    spiffeId: r.spiffe_id as string,
    parentId: r.parent_id as string,
    selectors: strings(r.selectors),
    ttlSeconds: r.ttl_seconds as number,
    dnsNames: strings(r.dns_names),
    createdAt: date(r.created_at),
  };
}

function toAuthority(r: Row): AuthorityRecord {
  return withOptional(
    {
      id: r.id as string,
      kind: r.kind as AuthorityRecord['kind'],
      state: r.state as AuthorityState,
      upstream: r.upstream as string,
      certificatePem: r.certificate_pem as string,
      notBefore: date(r.not_before),
      notAfter: date(r.not_after),
      createdAt: date(r.created_at),
    },
    {
      keyPath: r.key_path ?? undefined,
      upstreamRootsPem: r.upstream_roots_pem ?? undefined,
      activatedAt: optionalDate(r.activated_at),
      retiredAt: optionalDate(r.retired_at),
    },
  );
}

function toJwtKey(r: Row): JwtKeyRecord {
  return withOptional(
    {
      id: r.id as string,
      state: r.state as AuthorityState,
      algorithm: r.algorithm as string,
      publicKeyPem: r.public_key_pem as string,
      keyPath: r.key_path as string,
      notAfter: date(r.not_after),
      createdAt: date(r.created_at),
    },
    {
      activatedAt: optionalDate(r.activated_at),
      retiredAt: optionalDate(r.retired_at),
      publishedUntil: optionalDate(r.published_until),
    },
  );
}
