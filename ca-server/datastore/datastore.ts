/**
 * Persistent state of the CA server. Every method is async so an HA backend (PostgreSQL) can implement the
 * same interface; `transaction` runs its callback atomically against one connection.
 */

import type { JoinTokenRecord, JoinTokenStore } from '../../plugins/api/join-token-store.js';

export type { ConsumeJoinTokenResult, JoinTokenRecord } from '../../plugins/api/join-token-store.js';

export interface AgentRecord {
  spiffeId: string;
  /** How it attested: 'join_token', 'k8s_token'. */
  attestationType: string;
  /** Serial (hex) of the agent SVID that authenticates the agent now; any other serial is refused. */
  serialNumber: string;
  /**
   * Serial of an agent SVID issued by a renewal but not yet presented. It authenticates too, and the first
   * call that presents it makes it `serialNumber`: from then on the older SVID is refused (SPIRE's
   * serial_number / new_serial_number pair).
   */
  newSerialNumber?: string;
  /** Expiry of the newest agent SVID issued. */
  expiresAt: Date;
  attestedAt: Date;
  lastSeenAt: Date;
  /** Selectors the agent was attested with, e.g. "k8s:node-name:worker-1". */
  selectors: string[];
}

/** An agent ID refused at attestation until an operator lifts the ban (meshid agent ban / unban). */
export interface AgentBan {
  spiffeId: string;
  bannedAt: Date;
  /** Operator's note; may be empty. */
  reason: string;
}

export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  /** SPIFFE ID of the agent whose workloads may receive this identity. */
  parentId: string;
  /** "type:value" pairs, all of which must match the workload, e.g. "unix:uid:1000". */
  selectors: string[];
  /** SVID TTL in seconds; 0 = server default. */
  ttlSeconds: number;
  dnsNames: string[];
  createdAt: Date;
}

export type AuthorityState = 'prepared' | 'active' | 'retired';

/** One entry in the authority journal: a signing CA (or root) meshid has used or will use. */
export interface AuthorityRecord {
  id: string;
  /** 'root' for a trust anchor, 'intermediate' for a signing CA. */
  kind: 'root' | 'intermediate';
  state: AuthorityState;
  /** Upstream plugin that produced it, e.g. 'self-signed'. */
  upstream: string;
  /** PEM of the certificate, followed by its chain up to (excluding) the root for intermediates. */
  certificatePem: string;
  /** Path of the private key file (0600), if meshid holds the key; relative paths are under the data dir. */
  keyPath?: string;
  /** PEM of the upstream roots the chain verifies against (intermediates only); they stay in the trust bundle
   * while this authority is prepared, active, or retired but not yet expired. */
  upstreamRootsPem?: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
  activatedAt?: Date;
  retiredAt?: Date;
}

/** A JWT-SVID signing key: prepared (published, not signing) -> active (signing) -> retired (published only). */
export interface JwtKeyRecord {
  /** Key ID (`kid`): RFC 7638 SHA-256 thumbprint of the public JWK, base64url. */
  id: string;
  state: AuthorityState;
  /** JWS algorithm the key signs with (ES256, ES384, RS256, PS256). */
  algorithm: string;
  /** SPKI PEM, so the bundle can publish the key without reading its private key file. */
  publicKeyPem: string;
  /** Path of the private key file (0600); relative paths are under the data dir. */
  keyPath: string;
  /** The key stops signing by this time (the rotation schedule counts from createdAt). */
  notAfter: Date;
  createdAt: Date;
  activatedAt?: Date;
  retiredAt?: Date;
  /** Set on retirement: when the last token the key signed expires, so it leaves the bundle. */
  publishedUntil?: Date;
}

export interface DataStore extends JoinTokenStore {
  listJoinTokens(): Promise<JoinTokenRecord[]>;
  /** Returns false when no token has that id. */
  revokeJoinToken(id: string, now: Date): Promise<boolean>;

  /** A (re-)attested agent: replaces any earlier record, so every SVID issued before is refused. */
  upsertAgent(agent: AgentRecord): Promise<void>;
  getAgent(spiffeId: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /**
   * Records the SVID a renewal issued as the agent's pending serial. False when the agent record is gone
   * (evicted or banned meanwhile): the renewal must then be refused.
   */
  renewAgent(spiffeId: string, renewal: { newSerialNumber: string; expiresAt: Date; lastSeenAt: Date }): Promise<boolean>;
  /** Makes the pending serial current (the old SVID stops authenticating). False when it is not pending. */
  promoteAgentSerial(spiffeId: string, serialNumber: string): Promise<boolean>;
  /** Evicts the agent: its record and every SVID tied to it. Returns false when no agent has that ID. */
  deleteAgent(spiffeId: string): Promise<boolean>;

  /** Bans the ID (and deletes its record); banning again keeps the first ban. */
  banAgent(ban: AgentBan): Promise<void>;
  /** Returns false when the ID was not banned. */
  unbanAgent(spiffeId: string): Promise<boolean>;
  getAgentBan(spiffeId: string): Promise<AgentBan | undefined>;
  listAgentBans(): Promise<AgentBan[]>;

  createEntry(entry: RegistrationEntry): Promise<void>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(filter?: { parentId?: string; spiffeId?: string }): Promise<RegistrationEntry[]>;
  deleteEntry(id: string): Promise<boolean>;

  listAuthorities(filter?: { state?: AuthorityState; kind?: AuthorityRecord['kind'] }): Promise<AuthorityRecord[]>;
  putAuthority(authority: AuthorityRecord): Promise<void>;

  listJwtKeys(filter?: { state?: AuthorityState }): Promise<JwtKeyRecord[]>;
  putJwtKey(key: JwtKeyRecord): Promise<void>;

  transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T>;
  /** A trivial query (readiness): rejects when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
