// Records for the datastore suites: valid by default, any field overridden.
import type { AgentRecord, AuthorityRecord, JoinTokenRecord, JwtKeyRecord, RegistrationEntry } from '../../ca-server/datastore/datastore.js';

export const T0 = new Date('2030-01-01T00:00:00Z');
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

export const token = (id: string, over: Partial<JoinTokenRecord> = {}): JoinTokenRecord => ({
  id,
  tokenHash: `hash-${id}`,
  spiffeId: `spiffe://example.org/agent/${id}`,
  createdAt: T0,
  expiresAt: at(600),
  ...over,
});

export const agent = (name: string, over: Partial<AgentRecord> = {}): AgentRecord => ({
  spiffeId: `spiffe://example.org/agent/${name}`,
  attestationType: 'join_token',
  serialNumber: '0a1b',
  expiresAt: at(3600),
  attestedAt: T0,
  lastSeenAt: T0,
  selectors: ['k8s:node-name:worker-1', 'join_token:abc'],
  ...over,
});

export const entry = (id: string, parentId: string, over: Partial<RegistrationEntry> = {}): RegistrationEntry => ({
  id,
  spiffeId: `spiffe://example.org/workload/${id}`,
  parentId,
  selectors: ['unix:uid:1000'],
  ttlSeconds: 0,
  dnsNames: [],
  createdAt: T0,
  ...over,
});

export const authority = (id: string, over: Partial<AuthorityRecord> = {}): AuthorityRecord => ({
  id,
  kind: 'intermediate',
  state: 'prepared',
  upstream: 'self-signed',
  certificatePem: `PEM-${id}`,
  notBefore: T0,
  notAfter: at(86400),
  createdAt: T0,
  ...over,
});

export const jwtKey = (id: string, over: Partial<JwtKeyRecord> = {}): JwtKeyRecord => ({
  id,
  state: 'prepared',
  algorithm: 'ES256',
  publicKeyPem: `SPKI-${id}`,
  keyPath: `jwt/${id}.pem`,
  notAfter: at(86400),
  createdAt: T0,
  ...over,
});

/** 'resolved', or the code of the error the promise rejected with. */
export const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code);
