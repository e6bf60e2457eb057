import type {
  AgentBan,
  AgentRecord,
  AuthorityRecord,
  AuthorityState,
  ConsumeJoinTokenResult,
  DataStore,
  JoinTokenRecord,
  JwtKeyRecord,
  RegistrationEntry,
} from './datastore.js';

type DataStoreQueries = Omit<DataStore, 'transaction' | 'close'>;

/** A backend's query object: every DataStore query, answering synchronously (SQLite) or not (PostgreSQL). */
export type BackendQueries = {
  [K in keyof DataStoreQueries]: (
    ...args: Parameters<DataStoreQueries[K]>
  ) => ReturnType<DataStoreQueries[K]> | Awaited<ReturnType<DataStoreQueries[K]>>;
};

/** Every DataStore query, forwarded to the backend's queries through `run`, which decides when and where it executes. */
export abstract class ForwardingDataStore<Q extends BackendQueries> implements DataStore {
  protected abstract run<T>(op: (q: Q) => T | Promise<T>): Promise<T>;
  abstract transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;

  createJoinToken(token: JoinTokenRecord): Promise<void> {
    return this.run((q) => q.createJoinToken(token));
  }
  consumeJoinToken(tokenHash: string, now: Date): Promise<ConsumeJoinTokenResult> {
    return this.run((q) => q.consumeJoinToken(tokenHash, now));
  }
  listJoinTokens(): Promise<JoinTokenRecord[]> {
    return this.run((q) => q.listJoinTokens());
  }
  revokeJoinToken(id: string, now: Date): Promise<boolean> {
    return this.run((q) => q.revokeJoinToken(id, now));
  }
  upsertAgent(agent: AgentRecord): Promise<void> {
    return this.run((q) => q.upsertAgent(agent));
  }
  getAgent(spiffeId: string): Promise<AgentRecord | undefined> {
    return this.run((q) => q.getAgent(spiffeId));
  }
  listAgents(): Promise<AgentRecord[]> {
    return this.run((q) => q.listAgents());
  }
  renewAgent(spiffeId: string, renewal: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): Promise<boolean> {
    return this.run((q) => q.renewAgent(spiffeId, renewal));
  }
  promoteAgentSerial(spiffeId: string, serialNumber: string): Promise<boolean> {
    return this.run((q) => q.promoteAgentSerial(spiffeId, serialNumber));
  }
  deleteAgent(spiffeId: string): Promise<boolean> {
    return this.run((q) => q.deleteAgent(spiffeId));
  }
  banAgent(ban: AgentBan): Promise<void> {
    return this.run((q) => q.banAgent(ban));
  }
  unbanAgent(spiffeId: string): Promise<boolean> {
    return this.run((q) => q.unbanAgent(spiffeId));
  }
  getAgentBan(spiffeId: string): Promise<AgentBan | undefined> {
    return this.run((q) => q.getAgentBan(spiffeId));
  }
  listAgentBans(): Promise<AgentBan[]> {
    return this.run((q) => q.listAgentBans());
  }
  createEntry(entry: RegistrationEntry): Promise<void> {
    return this.run((q) => q.createEntry(entry));
  }
  getEntry(id: string): Promise<RegistrationEntry | undefined> {
    return this.run((q) => q.getEntry(id));
  }
  listEntries(filter?: { parentId?: string; spiffeId?: string }): Promise<RegistrationEntry[]> {
    return this.run((q) => q.listEntries(filter));
  }
  deleteEntry(id: string): Promise<boolean> {
    return this.run((q) => q.deleteEntry(id));
  }
  listAuthorities(filter?: { state?: AuthorityState; kind?: AuthorityRecord['kind'] }): Promise<AuthorityRecord[]> {
    return this.run((q) => q.listAuthorities(filter));
  }
  putAuthority(authority: AuthorityRecord): Promise<void> {
    return this.run((q) => q.putAuthority(authority));
  }
  listJwtKeys(filter?: { state?: AuthorityState }): Promise<JwtKeyRecord[]> {
    return this.run((q) => q.listJwtKeys(filter));
  }
  putJwtKey(key: JwtKeyRecord): Promise<void> {
    return this.run((q) => q.putJwtKey(key));
  }
  ping(): Promise<void> {
    return this.run((q) => q.ping());
  }
}
