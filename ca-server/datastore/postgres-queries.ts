import type { QueryResult } from 'pg';
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

/** The pool (one autocommitted statement each) or the connection a transaction is open on. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<QueryResult>;
}

/** pg sends a Date as timestamptz and a string array as text[], and reads both back. */
const POSTGRES_COLUMNS: ColumnTypes = {
  fromDate: (d) => d,
  toDate: (v) => v as Date,
  fromStrings: (list) => list,
  toStrings: (v) => v as string[],
};

/**
 * A statement written with SQLite's `@name` placeholders, sent with PostgreSQL's `$n`, so both backends take
 * the same parameter objects. A parameter that may be NULL in a filter needs a cast for PostgreSQL to type it.
 */
function statement(sql: string): (params: Row) => [string, unknown[]] {
  const names: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return (params) => [text, names.map((n) => params[n])];
}

const S = {
  ping: statement(SHARED_SQL.ping),
  // ON CONFLICT DO NOTHING instead of a unique violation: an error would abort an enclosing transaction.
  insertToken: statement(`INSERT INTO join_tokens (id, token_hash, spiffe_id, created_at, expires_at, used_at, revoked_at)
    VALUES (@id, @tokenHash, @spiffeId, @createdAt, @expiresAt, @usedAt, @revokedAt) ON CONFLICT DO NOTHING`),
  // Single use across replicas: of concurrent UPDATEs of the row the first takes its row lock; every other
  // one waits until that commits, rechecks `used_at IS NULL` on the updated row (READ COMMITTED) and matches
  // nothing. If the winner's transaction rolls back, the next one in line wins instead.
  consumeToken: statement(`UPDATE join_tokens SET used_at = @now
    WHERE token_hash = @tokenHash AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
    RETURNING *`),
  tokenByHash: statement('SELECT * FROM join_tokens WHERE token_hash = @tokenHash'),
  listTokens: statement(SHARED_SQL.listTokens),
  revokeToken: statement('UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id'),
  upsertAgent: statement(SHARED_SQL.upsertAgent),
  getAgent: statement('SELECT * FROM agents WHERE spiffe_id = @spiffeId'),
  listAgents: statement(SHARED_SQL.listAgents),
  renewAgent: statement(SHARED_SQL.renewAgent),
  promoteAgentSerial: statement(`UPDATE agents SET serial_number = new_serial_number, new_serial_number = NULL
    WHERE spiffe_id = @spiffeId AND new_serial_number = @serialNumber`),
  deleteAgent: statement('DELETE FROM agents WHERE spiffe_id = @spiffeId'),
  insertBan: statement(SHARED_SQL.insertBan),
  deleteBan: statement('DELETE FROM agent_bans WHERE spiffe_id = @spiffeId'),
  getBan: statement('SELECT * FROM agent_bans WHERE spiffe_id = @spiffeId'),
  listBans: statement(SHARED_SQL.listBans),
  insertEntry: statement(`INSERT INTO registration_entries (id, spiffe_id, parent_id, selectors, ttl_seconds, dns_names, created_at)
    VALUES (@id, @spiffeId, @parentId, @selectors, @ttlSeconds, @dnsNames, @createdAt) ON CONFLICT DO NOTHING`),
  getEntry: statement('SELECT * FROM registration_entries WHERE id = @id'),
  listEntries: statement(`SELECT * FROM registration_entries WHERE (@parentId::text IS NULL OR parent_id = @parentId)
      AND (@spiffeId::text IS NULL OR spiffe_id = @spiffeId)
    ORDER BY created_at, id`),
  deleteEntry: statement('DELETE FROM registration_entries WHERE id = @id'),
  putAuthority: statement(SHARED_SQL.putAuthority),
  listAuthorities: statement(`SELECT * FROM authorities
    WHERE (@state::text IS NULL OR state = @state) AND (@kind::text IS NULL OR kind = @kind)
    ORDER BY created_at, id`),
  putJwtKey: statement(SHARED_SQL.putJwtKey),
  listJwtKeys: statement('SELECT * FROM jwt_keys WHERE (@state::text IS NULL OR state = @state) ORDER BY created_at, id'),
};

/** The queries on the pool or on one transaction's client; PostgresDataStore decides which. */
export class PostgresQueries implements BackendQueries {
  private readonly m = new RecordMapping(POSTGRES_COLUMNS);

  constructor(private readonly db: Queryable) {}

  async createJoinToken(t: JoinTokenRecord): Promise<void> {
    if ((await this.exec(S.insertToken, this.m.joinTokenParams(t))).rowCount === 0) throw duplicateJoinToken(t);
  }

  async consumeJoinToken(tokenHash: string, now: Date): Promise<ConsumeJoinTokenResult> {
    const [won] = await this.rows(S.consumeToken, { tokenHash, now });
    if (won) return { ok: true, token: this.m.toJoinToken(won) };
    const [row] = await this.rows(S.tokenByHash, { tokenHash });
    return consumeRefusal(row && this.m.toJoinToken(row));
  }

  async listJoinTokens(): Promise<JoinTokenRecord[]> {
    return (await this.rows(S.listTokens)).map((r) => this.m.toJoinToken(r));
  }

  async revokeJoinToken(id: string, now: Date): Promise<boolean> {
    return this.changed(S.revokeToken, { id, now });
  }

  async upsertAgent(a: AgentRecord): Promise<void> {
    await this.exec(S.upsertAgent, this.m.agentParams(a));
  }

  async getAgent(spiffeId: string): Promise<AgentRecord | undefined> {
    const [row] = await this.rows(S.getAgent, { spiffeId });
    return row && this.m.toAgent(row);
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (await this.rows(S.listAgents)).map((r) => this.m.toAgent(r));
  }

  async renewAgent(spiffeId: string, r: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): Promise<boolean> {
    return this.changed(S.renewAgent, this.m.renewalParams(spiffeId, r));
  }

  async promoteAgentSerial(spiffeId: string, serialNumber: string): Promise<boolean> {
    return this.changed(S.promoteAgentSerial, { spiffeId, serialNumber });
  }

  async deleteAgent(spiffeId: string): Promise<boolean> {
    return this.changed(S.deleteAgent, { spiffeId });
  }

  /** Two statements: PostgresDataStore runs it in a transaction. */
  async banAgent(b: AgentBan): Promise<void> {
    await this.exec(S.insertBan, this.m.banParams(b));
    await this.exec(S.deleteAgent, { spiffeId: b.spiffeId });
  }

  async unbanAgent(spiffeId: string): Promise<boolean> {
    return this.changed(S.deleteBan, { spiffeId });
  }

  async getAgentBan(spiffeId: string): Promise<AgentBan | undefined> {
    const [row] = await this.rows(S.getBan, { spiffeId });
    return row && this.m.toBan(row);
  }

  async listAgentBans(): Promise<AgentBan[]> {
    return (await this.rows(S.listBans)).map((r) => this.m.toBan(r));
  }

  async createEntry(e: RegistrationEntry): Promise<void> {
    if ((await this.exec(S.insertEntry, this.m.entryParams(e))).rowCount === 0) throw duplicateEntry(e);
  }

  async getEntry(id: string): Promise<RegistrationEntry | undefined> {
    const [row] = await this.rows(S.getEntry, { id });
    return row && this.m.toEntry(row);
  }

  async listEntries(filter: { parentId?: string; spiffeId?: string } = {}): Promise<RegistrationEntry[]> {
    const rows = await this.rows(S.listEntries, { parentId: filter.parentId ?? null, spiffeId: filter.spiffeId ?? null });
    return rows.map((r) => this.m.toEntry(r));
  }

  async deleteEntry(id: string): Promise<boolean> {
    return this.changed(S.deleteEntry, { id });
  }

  async listAuthorities(filter: { state?: AuthorityState; kind?: AuthorityRecord['kind'] } = {}): Promise<AuthorityRecord[]> {
    const rows = await this.rows(S.listAuthorities, { state: filter.state ?? null, kind: filter.kind ?? null });
    return rows.map((r) => this.m.toAuthority(r));
  }

  async putAuthority(a: AuthorityRecord): Promise<void> {
    await this.exec(S.putAuthority, this.m.authorityParams(a));
  }

  async listJwtKeys(filter: { state?: AuthorityState } = {}): Promise<JwtKeyRecord[]> {
    return (await this.rows(S.listJwtKeys, { state: filter.state ?? null })).map((r) => this.m.toJwtKey(r));
  }

  async putJwtKey(k: JwtKeyRecord): Promise<void> {
    await this.exec(S.putJwtKey, this.m.jwtKeyParams(k));
  }

  async ping(): Promise<void> {
    await this.exec(S.ping, {});
  }

  private exec(s: (params: Row) => [string, unknown[]], params: Row): Promise<QueryResult> {
    return this.db.query(...s(params));
  }

  private async rows(s: (params: Row) => [string, unknown[]], params: Row = {}): Promise<Row[]> {
    return (await this.exec(s, params)).rows as Row[];
  }

  private async changed(s: (params: Row) => [string, unknown[]], params: Row): Promise<boolean> {
    return ((await this.exec(s, params)).rowCount ?? 0) > 0;
  }
}
