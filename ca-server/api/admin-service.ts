import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../../core/audit.js';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { isAgentId, isReservedId, RESERVED_PATH_PREFIX } from '../../core/reserved-ids.js';
import { SpiffeId, type TrustDomain } from '../../core/spiffeid.js';
import type { AdminServiceHandlers } from '../../protos/gen/meshid/v1/AdminService.js';
import type { Agent } from '../../protos/gen/meshid/v1/Agent.js';
import type { AgentBan as AgentBanMessage } from '../../protos/gen/meshid/v1/AgentBan.js';
import type { Authority } from '../../protos/gen/meshid/v1/Authority.js';
import type { Entry } from '../../protos/gen/meshid/v1/Entry.js';
import type { JoinToken } from '../../protos/gen/meshid/v1/JoinToken.js';
import type { RootRotationStatus as RootRotationStatusMessage } from '../../protos/gen/meshid/v1/RootRotationStatus.js';
import type { AuthorityStatus } from '../authority/root-rotation-state.js';
import type { RootRotation, RootRotationStatus } from '../authority/root-rotation.js';
import type { AgentBan, AgentRecord, DataStore, JoinTokenRecord, RegistrationEntry } from '../datastore/datastore.js';
import type { AgentStreams } from './agent-streams.js';
import { auditEveryCall, unary as unaryHandler } from './handler.js';

export interface AdminServiceDeps {
  trustDomain: TrustDomain;
  store: DataStore;
  joinTokens: {
    createJoinToken(request: { spiffeId?: string; ttlSeconds?: number }): Promise<{ id: string; token: string; spiffeId: SpiffeId; expiresAt: Date }>;
  };
  bundle(format: 'pem' | 'jwks'): string;
  rotation: Pick<RootRotation, 'status' | 'prepare' | 'activate' | 'retire'>;
  /** DNS names of the CA's serving certificate: no entry may claim them. */
  serverDnsNames: readonly string[];
  /** Open agent streams, ended when their agent is evicted or banned. */
  streams: AgentStreams;
  audit: AuditLog;
  log: Logger;
}

const SELECTOR = /^[a-z0-9_-]+:[^\s]+$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** The local administration API (Unix socket): join tokens, registration entries, agents, the bundle, root rotation. */
export function adminService(deps: AdminServiceDeps): AdminServiceHandlers {
  const { store, trustDomain, log } = deps;
  const now = () => new Date();
  const audited = auditEveryCall(deps.audit, 'meshid.v1.AdminService');
  const unary: typeof unaryHandler = (l, method, handle) => unaryHandler(l, method, handle, audited);
  const removed = (id: string, what: string) => new MeshidError('PERMISSION_DENIED', `agent ${id} was ${what} by an operator`, `${what}_agent`);

  return {
    CreateJoinToken: unary(log, 'CreateJoinToken', async (req) => {
      // 0 = the configured default; the attestor enforces joinToken.maxTtl.
      const ttlSeconds = req.ttl_seconds || undefined;
      const spiffeId = req.spiffe_id ? memberId(req.spiffe_id, trustDomain, 'spiffe_id').toString() : undefined;
      const created = await deps.joinTokens.createJoinToken({ spiffeId, ttlSeconds });
      log.info({ tokenId: created.id, spiffeId: created.spiffeId.toString(), expiresAt: created.expiresAt }, 'join token created');
      const record = { id: created.id, tokenHash: '', spiffeId: created.spiffeId.toString(), createdAt: now(), expiresAt: created.expiresAt };
      return { token: joinTokenMessage(record), value: created.token };
    }),

    ListJoinTokens: unary(log, 'ListJoinTokens', async () => ({
      tokens: (await store.listJoinTokens()).map(joinTokenMessage),
    })),

    RevokeJoinToken: unary(log, 'RevokeJoinToken', async (req) => {
      if (!req.id) throw invalidArgument('id is required (see `meshid token list`)');
      if (!(await store.revokeJoinToken(req.id, now()))) throw notFound(`no join token with id "${req.id}"`);
      log.info({ tokenId: req.id }, 'join token revoked');
      return {};
    }),

    CreateEntry: unary(log, 'CreateEntry', async (req) => {
      const spiffeId = memberId(req.spiffe_id, trustDomain, 'spiffe_id');
      if (spiffeId.path === '') throw invalidArgument('spiffe_id must have a path (the bare trust domain ID is reserved for CAs)');
      if (isReservedId(spiffeId)) {
        throw invalidArgument(`spiffe_id ${spiffeId} is reserved: paths under ${RESERVED_PATH_PREFIX} belong to meshid's node agents and servers`);
      }
      const parentId = memberId(req.parent_id, trustDomain, 'parent_id');
      if (!isAgentId(parentId)) throw invalidArgument(`parent_id ${parentId} is not a node agent ID (spiffe://${trustDomain.name}/meshid/agent/...)`);
      if (req.selectors.length === 0) {
        throw invalidArgument('at least one selector is required (e.g. unix:uid:1000), or any workload of the agent would match');
      }
      for (const selector of req.selectors) {
        if (!SELECTOR.test(selector)) throw invalidArgument(`selector "${selector}" must look like type:key:value (e.g. unix:uid:1000)`);
      }
      if (req.ttl_seconds < 0) throw invalidArgument('ttl_seconds must not be negative');
      for (const name of req.dns_names) {
        if (!DNS_NAME.test(name)) throw invalidArgument(`dns_names: "${name}" is not a valid DNS name`);
        const server = deps.serverDnsNames.find((serverName) => dnsNameCovers(name, serverName) || dnsNameCovers(serverName, name));
        if (server !== undefined) {
          throw invalidArgument(`dns_names: "${name}" would cover the CA server's name "${server}" (serverDnsNames); an SVID with it could pose as the CA`);
        }
      }
      const entry: RegistrationEntry = {
        id: randomUUID(),
        spiffeId: spiffeId.toString(),
        parentId: parentId.toString(),
        selectors: [...new Set(req.selectors)].sort(),
        ttlSeconds: req.ttl_seconds,
        dnsNames: req.dns_names,
        createdAt: now(),
      };
      await store.createEntry(entry);
      log.info({ entryId: entry.id, spiffeId: entry.spiffeId, parentId: entry.parentId }, 'registration entry created');
      return entryMessage(entry);
    }),

    ListEntries: unary(log, 'ListEntries', async (req) => ({
      entries: (await store.listEntries(req.parent_id ? { parentId: req.parent_id } : undefined)).map(entryMessage),
    })),

    DeleteEntry: unary(log, 'DeleteEntry', async (req) => {
      if (!req.id) throw invalidArgument('id is required (see `meshid entry list`)');
      if (!(await store.deleteEntry(req.id))) throw notFound(`no registration entry with id "${req.id}"`);
      log.info({ entryId: req.id }, 'registration entry deleted');
      return {};
    }),

    ListAgents: unary(log, 'ListAgents', async () => ({ agents: (await store.listAgents()).map(agentMessage) })),

    EvictAgent: unary(log, 'EvictAgent', async (req) => {
      const id = memberId(req.spiffe_id, trustDomain, 'spiffe_id').toString();
      if (!(await store.deleteAgent(id))) throw notFound(`no agent with SPIFFE ID "${id}"`);
      deps.streams.end(id, removed(id, 'evicted'));
      log.info({ agentId: id }, 'agent evicted');
      return {};
    }),

    BanAgent: unary(log, 'BanAgent', async (req) => {
      const id = memberId(req.spiffe_id, trustDomain, 'spiffe_id');
      if (!isAgentId(id)) throw invalidArgument(`${id} is not a node agent ID (spiffe://${trustDomain.name}/meshid/agent/...)`);
      await store.banAgent({ spiffeId: id.toString(), bannedAt: now(), reason: req.reason });
      deps.streams.end(id.toString(), removed(id.toString(), 'banned'));
      log.info({ agentId: id.toString() }, 'agent banned');
      return {};
    }),

    UnbanAgent: unary(log, 'UnbanAgent', async (req) => {
      const id = memberId(req.spiffe_id, trustDomain, 'spiffe_id').toString();
      if (!(await store.unbanAgent(id))) throw notFound(`agent "${id}" is not banned (see \`meshid agent bans\`)`);
      log.info({ agentId: id }, 'agent unbanned');
      return {};
    }),

    ListAgentBans: unary(log, 'ListAgentBans', async () => ({ bans: (await store.listAgentBans()).map(banMessage) })),

    GetBundle: unary(log, 'GetBundle', async (req) => {
      const format = req.format || 'pem';
      if (format !== 'pem' && format !== 'jwks') throw invalidArgument(`format must be "pem" or "jwks", got "${format}"`);
      return { content: deps.bundle(format) };
    }),

    GetRootRotation: unary(log, 'GetRootRotation', async () => rotationMessage(await deps.rotation.status())),

    PrepareRootRotation: unary(log, 'PrepareRootRotation', async () => {
      const status = await deps.rotation.prepare();
      log.info({ next: rotationLog(status) }, 'root rotation prepared: the new root is published to every agent');
      return rotationMessage(status);
    }),

    ActivateRootRotation: unary(log, 'ActivateRootRotation', async (req) => {
      const status = await deps.rotation.activate({ force: req.force });
      log.info({ roots: rotationLog(status), forced: req.force }, 'root rotation activated: signing under the new root');
      return rotationMessage(status);
    }),

    RetireRootRotation: unary(log, 'RetireRootRotation', async (req) => {
      const status = await deps.rotation.retire({ force: req.force });
      log.info({ roots: rotationLog(status), forced: req.force }, 'root rotation finished: the old root left the trust bundle');
      return rotationMessage(status);
    }),
  };
}

const rotationLog = (status: RootRotationStatus) =>
  status.authorities.filter((a) => a.kind === 'root').map((a) => ({ id: a.id, state: a.state }));

function rotationMessage(status: RootRotationStatus): RootRotationStatusMessage {
  return {
    phase: status.phase,
    authorities: status.authorities.map(authorityMessage),
    bundle_sequence: status.bundleSequence,
    agents_active: status.agentsActive,
    agents_acknowledged: status.agentsAcknowledged,
    agents_pending: status.agentsPending,
    // rounded up: retiring at this second must be safe
    retire_safe_at: status.retireSafeAt ? Math.ceil(status.retireSafeAt.getTime() / 1000) : 0,
    upstream: status.upstream,
  };
}

function authorityMessage(a: AuthorityStatus): Authority {
  return {
    id: a.id,
    kind: a.kind,
    state: a.state,
    upstream: a.upstream,
    subject: a.subject,
    not_before: seconds(a.notBefore),
    not_after: seconds(a.notAfter),
    activated_at: seconds(a.activatedAt),
    retired_at: seconds(a.retiredAt),
    root_id: a.rootId ?? '',
  };
}

function memberId(value: string, td: TrustDomain, field: string): SpiffeId {
  if (!value) throw invalidArgument(`${field} is required`);
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(value);
  } catch (err) {
    throw invalidArgument(`${field}: ${(err as Error).message}`);
  }
  if (!id.memberOf(td)) throw invalidArgument(`${field} must be in trust domain "${td.name}"`);
  return id;
}

const notFound = (message: string) => new MeshidError('NOT_FOUND', message);
const seconds = (d: Date | undefined) => (d ? Math.floor(d.getTime() / 1000) : 0);

function joinTokenMessage(t: JoinTokenRecord): JoinToken {
  return {
    id: t.id,
    spiffe_id: t.spiffeId,
    created_at: seconds(t.createdAt),
    expires_at: seconds(t.expiresAt),
    used_at: seconds(t.usedAt),
    revoked_at: seconds(t.revokedAt),
  };
}

function entryMessage(e: RegistrationEntry): Entry {
  return {
    id: e.id,
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: e.selectors,
    ttl_seconds: e.ttlSeconds,
    dns_names: e.dnsNames,
    created_at: seconds(e.createdAt),
  };
}

function agentMessage(a: AgentRecord): Agent {
  return {
    spiffe_id: a.spiffeId,
    attestation_type: a.attestationType,
    serial_number: a.serialNumber,
    new_serial_number: a.newSerialNumber ?? '',
    expires_at: seconds(a.expiresAt),
    attested_at: seconds(a.attestedAt),
    last_seen_at: seconds(a.lastSeenAt),
    selectors: a.selectors,
  };
}

function banMessage(b: AgentBan): AgentBanMessage {
  return { spiffe_id: b.spiffeId, banned_at: seconds(b.bannedAt), reason: b.reason };
}

/** Whether a certificate for `pattern` (possibly "*.domain") would be valid for the host `name`. */
function dnsNameCovers(pattern: string, name: string): boolean {
  const entry = pattern.toLowerCase();
  const server = name.toLowerCase();
  if (entry === server) return true;
  if (!entry.startsWith('*.')) return false;
  const dot = server.indexOf('.');
  return dot > 0 && server.slice(dot + 1) === entry.slice(2);
}
