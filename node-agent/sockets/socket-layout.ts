import path from 'node:path';
import { invalidArgument } from '../../core/errors.js';

/** A path with the owner and mode it must have. */
export interface OwnedPath {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** Where the socket for one selector set lives and how every level of it is owned. */
export interface SocketPlan {
  /** What every call on the socket is attributed: the set's selectors, sorted (gid before uid). */
  selectors: string[];
  /** Stable identity of the plan: the selectors joined. */
  key: string;
  /** `gid-G`: owned by the agent, group G, 0750; shared by every socket for group G. */
  groupDir?: OwnedPath;
  /** `uid-U`: owned by U, 0700; the socket's own directory, created afresh for each socket. */
  userDir?: OwnedPath;
  socket: OwnedPath;
}

export const SOCKET_NAME = 'agent.sock';
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const SELECTOR = /^unix:(uid|gid):(\d{1,10})$/;
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "no change" to chown

/**
 * The per-identity socket a VM workload reaches its SVIDs through (Node has no SO_PEERCRED, so the kernel's
 * directory permissions vouch for the caller instead):
 *   unix:uid:U            -> <dir>/uid-U/agent.sock          dir U:agent 0700, socket U 0600
 *   unix:gid:G            -> <dir>/gid-G/agent.sock          dir agent:G 0750, socket agent:G 0660
 *   unix:uid:U + gid:G    -> <dir>/gid-G/uid-U/agent.sock    outer agent:G 0750, inner U:G 0700, socket U:G 0600
 * `agent` is the agent's own uid/gid (root in production). See workload-endpoints.ts for the argument.
 */
export function planSocket(socketDir: string, selectors: readonly string[], agent: { uid: number; gid: number }): SocketPlan {
  let uid: number | undefined;
  let gid: number | undefined;
  for (const selector of selectors) {
    const match = SELECTOR.exec(selector);
    const value = match ? Number(match[2]) : NaN;
    if (!match || value > MAX_ID) {
      throw invalidArgument(
        `selector "${selector}" cannot be vouched for by a socket: VM workloads are told apart by unix:uid:<n> and unix:gid:<n> only`,
        'unsupported_selector',
      );
    }
    const kind = match[1] as 'uid' | 'gid';
    const previous = kind === 'uid' ? uid : gid;
    if (previous !== undefined && previous !== value) {
      throw invalidArgument(`selectors name two ${kind}s (${previous} and ${value}); a caller has only one`, 'conflicting_selectors');
    }
    if (kind === 'uid') uid = value;
    else gid = value;
  }
  if (uid === undefined && gid === undefined) throw invalidArgument('an empty selector set cannot get a socket', 'unsupported_selector');

  const normalized = [...(gid === undefined ? [] : [`unix:gid:${gid}`]), ...(uid === undefined ? [] : [`unix:uid:${uid}`])];
  const groupDir = gid === undefined ? undefined : { path: path.join(socketDir, `gid-${gid}`), uid: agent.uid, gid, mode: 0o750 };
  const userDir =
    uid === undefined
      ? undefined
      : { path: path.join(groupDir?.path ?? socketDir, `uid-${uid}`), uid, gid: gid ?? agent.gid, mode: 0o700 };
  const socket: OwnedPath = userDir
    ? { path: path.join(userDir.path, SOCKET_NAME), uid: userDir.uid, gid: userDir.gid, mode: 0o600 }
    : { path: path.join(groupDir!.path, SOCKET_NAME), uid: agent.uid, gid: gid!, mode: 0o660 };
  checkSocketPathLength(socket.path);
  return { selectors: normalized, key: normalized.join(','), groupDir, userDir, socket };
}

export function checkSocketPathLength(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw invalidArgument(
      `socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket address holds; choose a shorter socketDir`,
      'socket_path_too_long',
    );
  }
}
