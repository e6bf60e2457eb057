import type Database from 'better-sqlite3';
import type { MeshidError } from '../../core/errors.js';
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
import type { BackendQueries } from './forwarding-store.js';
import { SHARED_SQL } from './shared-sql.js';
import { consumeRefusal, duplicateEntry, duplicateJoinToken, RecordMapping, type ColumnTypes, type Row } from './records.js';

/**
 * The single statement that makes join tokens single-use: of any number of concurrent callers, on any number
 * of connections, SQLite lets exactly one UPDATE match the row while used_at is still NULL.
 */
export const CONSUME_JOIN_TOKEN_SQL = `UPDATE join_tokens SET used_at = @now
  WHERE token_hash = @tokenHash AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
  RETURNING *`;

/** Dates as integer milliseconds, string lists as JSON text. */
const SQLITE_COLUMNS: ColumnTypes = {
  fromDate: (d) => d.getTime(),
  toDate: (v) => new Date(v as number),
  fromStrings: (list) => JSON.stringify(list),
  toStrings: (v) => JSON.parse(v as string) as string[],
};

/** Synchronous queries on one connection; SqliteDataStore decides when they may run. */
export class SqliteQueries implements BackendQueries {
  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly m = new RecordMapping(SQLITE_COLUMNS);

  constructor(db: Database.Database) {
    this.s = prepareStatements(db);
  }

  createJoinToken(t: JoinTokenRecord): void {
    insertUnique(() => this.s.insertToken.run(this.m.joinTokenParams(t)), () => duplicateJoinToken(t));
  }

  consumeJoinToken(tokenHash: string, now: Date): ConsumeJoinTokenResult {
    const won = this.s.consumeToken.get({ tokenHash, now: now.getTime() }) as Row | undefined;
    if (won) return { ok: true, token: this.m.toJoinToken(won) };
    const row = this.s.tokenByHash.get(tokenHash) as Row | undefined;
    return consumeRefusal(row && this.m.toJoinToken(row));
  }

  listJoinTokens(): JoinTokenRecord[] {
    return (this.s.listTokens.all() as Row[]).map((r) => this.m.toJoinToken(r));
  }

  revokeJoinToken(id: string, now: Date): boolean {
    return this.s.revokeToken.run(now.getTime(), id).changes > 0;
  }

  upsertAgent(a: AgentRecord): void {
    this.s.upsertAgent.run(this.m.agentParams(a));
  }

  getAgent(spiffeId: string): AgentRecord | undefined {
    const row = this.s.getAgent.get(spiffeId) as Row | undefined;
    return row && this.m.toAgent(row);
  }

  listAgents(): AgentRecord[] {
    return (this.s.listAgents.all() as Row[]).map((r) => this.m.toAgent(r));
  }

  renewAgent(spiffeId: string, r: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): boolean {
    return this.s.renewAgent.run(this.m.renewalParams(spiffeId, r)).changes > 0;
  }

  promoteAgentSerial(spiffeId: string, serialNumber: string): boolean {
    return this.s.promoteAgentSerial.run(spiffeId, serialNumber).changes > 0;
  }

  deleteAgent(spiffeId: string): boolean {
    return this.s.deleteAgent.run(spiffeId).changes > 0;
  }

  banAgent(b: AgentBan): void {
    this.s.insertBan.run(this.m.banParams(b));
    this.s.deleteAgent.run(b.spiffeId);
  }

  unbanAgent(spiffeId: string): boolean {
    return this.s.deleteBan.run(spiffeId).changes > 0;
  }

  getAgentBan(spiffeId: string): AgentBan | undefined {
    const row = this.s.getBan.get(spiffeId) as Row | undefined;
    return row && this.m.toBan(row);
  }

  listAgentBans(): AgentBan[] {
    return (this.s.listBans.all() as Row[]).map((r) => this.m.toBan(r));
  }

  createEntry(e: RegistrationEntry): void {
    insertUnique(() => this.s.insertEntry.run(this.m.entryParams(e)), () => duplicateEntry(e));
  }

  getEntry(id: string): RegistrationEntry | undefined {
    const row = this.s.getEntry.get(id) as Row | undefined;
    return row && this.m.toEntry(row);
  }

  listEntries(filter: { parentId?: string; spiffeId?: string } = {}): RegistrationEntry[] {
    const rows = this.s.listEntries.all({ parentId: filter.parentId ?? null, spiffeId: filter.spiffeId ?? null }) as Row[];
    return rows.map((r) => this.m.toEntry(r));
  }

  deleteEntry(id: string): boolean {
    return this.s.deleteEntry.run(id).changes > 0;
  }

  listAuthorities(filter: { state?: AuthorityState; kind?: AuthorityRecord['kind'] } = {}): AuthorityRecord[] {
    const rows = this.s.listAuthorities.all({ state: filter.state ?? null, kind: filter.kind ?? null }) as Row[];
    return rows.map((r) => this.m.toAuthority(r));
  }

  putAuthority(a: AuthorityRecord): void {
    this.s.putAuthority.run(this.m.authorityParams(a));
  }

  listJwtKeys(filter: { state?: AuthorityState } = {}): JwtKeyRecord[] {
    return (this.s.listJwtKeys.all({ state: filter.state ?? null }) as Row[]).map((r) => this.m.toJwtKey(r));
  }

  putJwtKey(k: JwtKeyRecord): void {
    this.s.putJwtKey.run(this.m.jwtKeyParams(k));
  }

  ping(): void {
    this.s.ping.get();
  }
}

function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    ping: p(SHARED_SQL.ping),
    insertToken: p(`INSERT INTO join_tokens (id, token_hash, spiffe_id, created_at, expires_at, used_at, revoked_at)
      VALUES (@id, @tokenHash, @spiffeId, @createdAt, @expiresAt, @usedAt, @revokedAt)`),
    consumeToken: p(CONSUME_JOIN_TOKEN_SQL),
    tokenByHash: p('SELECT * FROM join_tokens WHERE token_hash = ?'),
    listTokens: p(SHARED_SQL.listTokens),
    revokeToken: p('UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
    upsertAgent: p(SHARED_SQL.upsertAgent),
    getAgent: p('SELECT * FROM agents WHERE spiffe_id = ?'),
    listAgents: p(SHARED_SQL.listAgents),
    renewAgent: p(SHARED_SQL.renewAgent),
    promoteAgentSerial: p(`UPDATE agents SET serial_number = new_serial_number, new_serial_number = NULL
      WHERE spiffe_id = ? AND new_serial_number = ?`),
    deleteAgent: p('DELETE FROM agents WHERE spiffe_id = ?'),
    insertBan: p(SHARED_SQL.insertBan),
    deleteBan: p('DELETE FROM agent_bans WHERE spiffe_id = ?'),
    getBan: p('SELECT * FROM agent_bans WHERE spiffe_id = ?'),
    listBans: p(SHARED_SQL.listBans),
    insertEntry: p(`INSERT INTO registration_entries (id, spiffe_id, parent_id, selectors, ttl_seconds, dns_names, created_at)
      VALUES (@id, @spiffeId, @parentId, @selectors, @ttlSeconds, @dnsNames, @createdAt)`),
    getEntry: p('SELECT * FROM registration_entries WHERE id = ?'),
    listEntries: p(`SELECT * FROM registration_entries WHERE (@parentId IS NULL OR parent_id = @parentId)
        AND (@spiffeId IS NULL OR spiffe_id = @spiffeId)
      ORDER BY created_at, id`),
    deleteEntry: p('DELETE FROM registration_entries WHERE id = ?'),
    putAuthority: p(SHARED_SQL.putAuthority),
    listAuthorities: p(`SELECT * FROM authorities
      WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)
      ORDER BY created_at, id`),
    putJwtKey: p(SHARED_SQL.putJwtKey),
    listJwtKeys: p('SELECT * FROM jwt_keys WHERE (@state IS NULL OR state = @state) ORDER BY created_at, id'),
  };
}

function insertUnique(insert: () => unknown, duplicate: () => MeshidError): void {
  try {
    insert();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') throw duplicate();
    throw err;
  }
}
