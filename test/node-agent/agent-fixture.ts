import type { EventEmitter } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../core/log.js';
import { startNodeAgent, type NodeAgent } from '../../node-agent/agent.js';
import { readNodeAgentConfig, type NodeAgentConfig } from '../../node-agent/config.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import { LogCapture, rpc, TRUST_DOMAIN, type CaFixture } from '../ca-server/fixture.js';

/**
 * Node agents under test, against a real in-process CA (test/ca-server/fixture.ts): configs on temp dirs
 * with fast backoff, admin helpers for join tokens and entries, and a way to await the agent's events.
 */

export { LogCapture, TRUST_DOMAIN };

/** A fresh directory under `parent` (default: the system temp dir). */
export async function tempDir(parent = tmpdir()): Promise<string> {
  return mkdtemp(path.join(parent, 'meshid-agent-'));
}

type Raw = Record<string, unknown>;

function merge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    const nested = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
    out[key] = nested(prev) && nested(value) ? merge(prev, value) : value;
  }
  return out;
}

/** A VM-mode config reaching `ca`, with data under `dir`; `over` is raw config merged on top. */
export function agentConfig(ca: CaFixture, dir: string, over: Raw = {}): NodeAgentConfig {
  return readNodeAgentConfig(
    merge(
      {
        mode: 'vm',
        server: { address: ca.target, tlsServerName: 'localhost', trustBundleFile: ca.server.bundleFile, callTimeout: '3s' },
        dataDir: path.join(dir, 'data'),
        socketDir: path.join(dir, 'sockets'),
        backoff: { initial: '50ms', max: '400ms' },
        listen: { ops: '127.0.0.1:0' },
      },
      over,
    ),
  );
}

/** Starts an agent logging into `logs`; without workload sockets unless `sockets` is true. */
export function startAgent(config: NodeAgentConfig, logs = new LogCapture(), sockets = false): Promise<NodeAgent> {
  return startNodeAgent(config, createLogger({ name: 'meshid-agent', level: 'debug', destination: logs }), { sockets });
}

export async function createJoinToken(admin: AdminServiceClient, agentPath: string): Promise<{ value: string; spiffeId: string }> {
  const res = await rpc(admin, admin.CreateJoinToken, { spiffe_id: `spiffe://${TRUST_DOMAIN}${agentPath}`, ttl_seconds: 600 });
  return { value: res.value, spiffeId: res.token!.spiffe_id };
}

export async function createEntry(
  admin: AdminServiceClient,
  entry: { spiffeId: string; parentId: string; selectors: string[]; ttlSeconds?: number },
): Promise<string> {
  const res = await rpc(admin, admin.CreateEntry, {
    spiffe_id: entry.spiffeId,
    parent_id: entry.parentId,
    selectors: entry.selectors,
    ttl_seconds: entry.ttlSeconds ?? 0,
    dns_names: [],
  });
  return res.id;
}

/**
 * Resolves with the arguments of the next `event` for which `accept` holds; rejects after `timeoutMs`
 * naming the event, so a missing rotation fails the test instead of hanging it.
 */
export function nextEvent<Args extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  accept: (...args: Args) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<Args> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (!accept(...(args as Args))) return;
      clearTimeout(timeout);
      emitter.off(event, listener);
      resolve(args as Args);
    };
    const timeout = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

/** The value of a counter/gauge child with exactly these labels (0 when absent). */
export async function metricValue(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}
