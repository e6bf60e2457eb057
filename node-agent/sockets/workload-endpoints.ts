/**
 * The workload-facing Unix sockets: each serves both Envoy SDS and the SPIFFE Workload API.
 *
 * Kubernetes mode: one socket, <socketDir>/agent.sock (0666, in the directory the DaemonSet shares with the
 * pods). Callers prove who they are with their pod's service-account token; the CA checks the token and
 * that the pod runs on this node.
 *
 * VM mode: who is calling must be vouched for by the kernel, never by the caller, and Node has no
 * SO_PEERCRED. So each selector set the agent serves gets its own socket in a directory only matching
 * processes can traverse (layout in socket-layout.ts), and every call arriving on a socket is attributed
 * exactly that socket's selectors. Why that holds:
 * - connect(2) on a Unix socket needs search (x) permission on every directory of the path and write
 *   permission on the socket. <socketDir> is the agent's, 0755, and only the agent creates entries in it.
 * - uid-U is owned by U with 0700: only uid U (and root) can pass it. gid-G is the agent's with group G and
 *   0750: only members of G (and root) can pass it. gid-G/uid-U needs both. A process that reached a socket
 *   therefore had the uid/gid the socket stands for when it connected.
 * - Group membership here includes supplementary groups (the kernel's rule for directory access), so
 *   unix:gid:G means "member of G", which is broader than a primary-gid check.
 * - U owns its directory and could open it up to others, or pass its socket's file descriptor on. Either
 *   only hands out U's own identity, which U could equally do by sharing its key: no escalation.
 * - Every socket is bound inside a directory that is still the agent's own (a fresh uid-U, or gid-G which
 *   nobody else can write), and only then handed to U, so no caller can race a symlink into the agent's
 *   chown/chmod. uid-U directories are never reused: removed with their socket, re-created from scratch.
 * - root can traverse everything and so can fetch any identity; root could read the agent's memory anyway.
 */
import { chmod, chown, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { CappedGrpcServer } from '../../core/capped-grpc-server.js';
import { invalidArgument } from '../../core/errors.js';
import type { GrpcListenerLimits } from '../../core/listener-limits.js';
import type { IdentitySource } from '../identity-source.js';
import { readAgentLimits } from '../limits.js';
import { SdsMetrics } from '../sds/metrics.js';
import { sdsService, sdsServiceDefinition } from '../sds/sds-service.js';
import { WorkloadApiMetrics } from '../workload-api/metrics.js';
import { workloadApiService, workloadApiServiceDefinition } from '../workload-api/workload-api-service.js';
import { socketCaller, tokenCaller, type CallerResolver } from './caller.js';
import { checkSocketPathLength, planSocket, SOCKET_NAME, type OwnedPath, type SocketPlan } from './socket-layout.js';

export interface WorkloadEndpointsOptions {
  /** Created if missing; owned by the agent, 0755. VM mode needs root (or only serves the agent's own uid/gids). */
  socketDir: string;
  mode: 'vm' | 'k8s';
  source: IdentitySource;
  log: Logger;
  /** Where to register the SDS / Workload API / socket metrics; a fresh registry per endpoints instance. */
  metrics?: Registry;
  /** Caps of each socket (default: limits.workloadSockets' defaults); `onConnectionRefused` counts refusals. */
  limits?: GrpcListenerLimits;
  onConnectionRefused?: () => void;
  /** Kubernetes mode: workload streams end at this fraction of the caller's token lifetime. Default 0.9. */
  tokenStreamFraction?: number;
}

export interface WorkloadEndpoints {
  /**
   * VM mode: serve exactly these selector sets (one socket each); sockets of sets no longer listed are closed
   * and removed. Sets that no socket can vouch for (other selector kinds) or whose socket cannot be created
   * are logged and skipped; never rejects. Updates apply in call order. No-op in Kubernetes mode.
   */
  update(selectorSets: string[][]): Promise<void>;
  /** Where the socket for `selectors` is (VM), or the one shared socket (Kubernetes). */
  socketPath(selectors: string[]): string;
  close(): Promise<void>;
}

const STALE_ENTRY = /^(uid|gid)-\d+$/;

export async function startWorkloadEndpoints(options: WorkloadEndpointsOptions): Promise<WorkloadEndpoints> {
  const { socketDir, source, log } = options;
  const agent = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const sdsMetrics = new SdsMetrics(options.metrics);
  const workloadApiMetrics = new WorkloadApiMetrics(options.metrics);
  const socketsGauge = new Gauge({
    name: 'meshid_agent_workload_sockets',
    help: 'Workload sockets being served (one per selector set in VM mode, one in Kubernetes mode).',
    registers: options.metrics ? [options.metrics] : [],
  });
  const sdsDefinition = sdsServiceDefinition();
  const workloadApiDefinition = workloadApiServiceDefinition();
  const limits = options.limits ?? readAgentLimits({}).workloadSockets;

  const serve = async (socketPath: string, callerOf: CallerResolver): Promise<grpc.Server> => {
    const server = new CappedGrpcServer(limits, {}, options.onConnectionRefused);
    const services = { source, callerOf, log, tokenStreamFraction: options.tokenStreamFraction ?? 0.9 };
    server.addService(sdsDefinition, sdsService({ ...services, metrics: sdsMetrics }));
    server.addService(workloadApiDefinition, workloadApiService({ ...services, metrics: workloadApiMetrics }));
    await server.listen({ path: socketPath }, grpc.ServerCredentials.createInsecure());
    return server;
  };

  await prepareSocketDir(socketDir, agent);

  if (options.mode === 'k8s') {
    const socketPath = path.join(socketDir, SOCKET_NAME);
    checkSocketPathLength(socketPath);
    const server = await serve(socketPath, tokenCaller);
    await chmod(socketPath, 0o666);
    socketsGauge.set(1);
    log.info({ socket: socketPath }, 'workload socket ready (Kubernetes mode: callers present service-account tokens)');
    return {
      update: async () => undefined,
      socketPath: () => socketPath,
      async close() {
        server.forceShutdown();
        await rm(socketPath, { force: true });
        socketsGauge.set(0);
      },
    };
  }

  const served = new Map<string, { plan: SocketPlan; server: grpc.Server }>();

  const open = async (plan: SocketPlan) => {
    if (plan.groupDir) await ensureGroupDir(plan.groupDir);
    if (plan.userDir) {
      await rm(plan.userDir.path, { recursive: true, force: true });
      await mkdir(plan.userDir.path, { mode: 0o700 });
    } else {
      await rm(plan.socket.path, { force: true });
    }
    const server = await serve(plan.socket.path, socketCaller(plan.selectors));
    try {
      await setOwner(plan.socket);
      if (plan.userDir) await setOwner(plan.userDir); // from here on U can reach it
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
    served.set(plan.key, { plan, server });
    log.info({ socket: plan.socket.path, selectors: plan.selectors }, 'workload socket ready');
  };

  const retire = async (plan: SocketPlan, server: grpc.Server) => {
    served.delete(plan.key);
    server.forceShutdown();
    await rm(plan.userDir?.path ?? plan.socket.path, { recursive: true, force: true });
    const groupDir = plan.groupDir?.path;
    if (groupDir && ![...served.values()].some((s) => s.plan.groupDir?.path === groupDir)) {
      await rm(groupDir, { recursive: true, force: true });
    }
    log.info({ socket: plan.socket.path, selectors: plan.selectors }, 'workload socket removed');
  };

  const apply = async (selectorSets: string[][]) => {
    const wanted = new Map<string, SocketPlan>();
    for (const selectors of selectorSets) {
      try {
        const plan = planSocket(socketDir, selectors, agent);
        wanted.set(plan.key, plan);
      } catch (err) {
        log.warn({ selectors, err }, 'no workload socket for this selector set');
      }
    }
    for (const { plan, server } of [...served.values()]) {
      if (!wanted.has(plan.key)) await retire(plan, server);
    }
    for (const plan of wanted.values()) {
      if (served.has(plan.key)) continue;
      await open(plan).catch((err: unknown) =>
        log.error({ selectors: plan.selectors, socket: plan.socket.path, err }, 'cannot create the workload socket for this selector set'),
      );
    }
    socketsGauge.set(served.size);
  };

  // Updates run one after another; a failed one does not block the next.
  let queue: Promise<void> = Promise.resolve();
  const serialized = (task: () => Promise<void>) => {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  };

  log.info({ socketDir }, 'workload sockets directory ready (VM mode: one socket per uid/gid selector set)');
  return {
    // Never rejects: a socket that cannot be created or removed is logged, the others are still served.
    update: (selectorSets) =>
      serialized(() => apply(selectorSets)).catch((err: unknown) => log.error({ err }, 'updating the workload sockets failed')),
    socketPath: (selectors) => planSocket(socketDir, selectors, agent).socket.path,
    close: () =>
      serialized(async () => {
        for (const { plan, server } of [...served.values()]) await retire(plan, server);
        socketsGauge.set(0);
      }),
  };
}

/** Creates the socket directory (the agent's, 0755) and removes sockets a previous run left behind. */
async function prepareSocketDir(socketDir: string, agent: { uid: number; gid: number }): Promise<void> {
  await mkdir(socketDir, { recursive: true, mode: 0o755 });
  const stat = await lstat(socketDir);
  if (!stat.isDirectory()) {
    throw invalidArgument(`socketDir ${socketDir} is not a directory (symbolic links are not accepted)`, 'bad_socket_dir');
  }
  await chown(socketDir, agent.uid, agent.gid);
  await chmod(socketDir, 0o755);
  for (const entry of await readdir(socketDir)) {
    if (STALE_ENTRY.test(entry) || entry === SOCKET_NAME) await rm(path.join(socketDir, entry), { recursive: true, force: true });
  }
}

/** gid-G is shared by the sockets of group G and only ever written by the agent: create or fix it in place. */
async function ensureGroupDir(dir: OwnedPath): Promise<void> {
  await mkdir(dir.path, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  if (!(await lstat(dir.path)).isDirectory()) throw invalidArgument(`${dir.path} is not a directory`, 'bad_socket_dir');
  await setOwner(dir);
}

async function setOwner(target: OwnedPath): Promise<void> {
  await chown(target.path, target.uid, target.gid);
  await chmod(target.path, target.mode);
}
