import type { SpiffeId } from './spiffeid.js';

/**
 * SPIFFE ID paths meshid keeps for itself. Workloads never get an ID under /meshid/: an entry or a token
 * that could yield one would hand a workload an agent's powers or let it pose as the CA.
 */
export const RESERVED_PATH_PREFIX = '/meshid/';
/** Node agents' IDs: spiffe://<td>/meshid/agent/... */
export const AGENT_PATH_PREFIX = '/meshid/agent/';
/** The CA server's own SVID; node agents check the CA presents exactly this ID. */
export const SERVER_PATH = '/meshid/server';

export const isReservedId = (id: SpiffeId): boolean => id.path.startsWith(RESERVED_PATH_PREFIX);
export const isAgentId = (id: SpiffeId): boolean => id.path.startsWith(AGENT_PATH_PREFIX) && id.path.length > AGENT_PATH_PREFIX.length;
