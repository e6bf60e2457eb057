/**
 * Persistent state of the CA server. Every method is async so an HA backend (PostgreSQL) can implement the
 * same interface; `transaction` runs its callback atomically against one connection.
 */

export interface JoinTokenRecord {
  /** Public identifier, safe to log and to show in `meshid token list`. */
  id: string;
  /** SHA-256 (hex) of the full token text; the token itself is never stored. */
  tokenHash: string;
  /** SPIFFE ID the attested agent receives. */
  spiffeId: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt?: Date;
  revokedAt?: Date;
}

export type ConsumeJoinTokenResult =
  | { ok: true; token: JoinTokenRecord }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'revoked' };

export interface AgentRecord {
  spiffeId: string;
  /** How it attested: 'join_token', 'k8s_token'. */
  attestationType: string;
  /** Serial (hex) of the agent SVID most recently issued; renewal must present it or a newer one. */
  serialNumber: string;
  expiresAt: Date;
  attestedAt: Date;
  lastSeenAt: Date;
  /** Selectors the agent was attested with, e.g. "k8s:node-name:worker-1". */
  selectors: string[];
  evictedAt?: Date;
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

export interface DataStore {
  createJoinToken(token: JoinTokenRecord): Promise<void>;
  /** Marks the token used if it is valid; exactly one of any number of concurrent callers gets ok. */
  consumeJoinToken(tokenHash: string, now: Date): Promise<ConsumeJoinTokenResult>;
  listJoinTokens(): Promise<JoinTokenRecord[]>;
  /** Returns false when no token has that id. */
  revokeJoinToken(id: string, now: Date): Promise<boolean>;

  upsertAgent(agent: AgentRecord): Promise<void>;
  getAgent(spiffeId: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** Returns false when no agent has that ID. */
  evictAgent(spiffeId: string, now: Date): Promise<boolean>;

  createEntry(entry: RegistrationEntry): Promise<void>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(filter?: { parentId?: string }): Promise<RegistrationEntry[]>;
  deleteEntry(id: string): Promise<boolean>;

  listAuthorities(filter?: { state?: AuthorityState; kind?: AuthorityRecord['kind'] }): Promise<AuthorityRecord[]>;
  putAuthority(authority: AuthorityRecord): Promise<void>;

  listJwtKeys(filter?: { state?: AuthorityState }): Promise<JwtKeyRecord[]>;
  putJwtKey(key: JwtKeyRecord): Promise<void>;

  transaction<T>(fn: (tx: DataStore) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
