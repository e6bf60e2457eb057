// The workload endpoints (SDS + Workload API sockets) over the CA-backed test IdentitySource, in a temp dir.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../../../core/log.js';
import { startWorkloadEndpoints, type WorkloadEndpoints } from '../../../../node-agent/sockets/workload-endpoints.js';
import { startCaIdentitySource, type CaIdentitySource } from './ca-identity-source.js';

/** Captured agent log lines (JSON). */
export class LogLines {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface AgentFixture {
  dir: string;
  socketDir: string;
  source: CaIdentitySource;
  endpoints: WorkloadEndpoints;
  registry: Registry;
  logs: LogLines;
  log: Logger;
  /** A metric's value (summed over label sets matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startAgentFixture(options: { mode?: 'vm' | 'k8s'; svidTtlSeconds?: number } = {}): Promise<AgentFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-endpoints-'));
  await chmod(dir, 0o755); // workloads running as other uids must be able to reach <dir>/sockets
  const socketDir = path.join(dir, 'sockets');
  const source = await startCaIdentitySource({ svidTtlSeconds: options.svidTtlSeconds });
  const registry = new Registry();
  const logs = new LogLines();
  const log = createLogger({ name: 'meshid-agent', level: 'debug', destination: logs });
  const endpoints = await startWorkloadEndpoints({ socketDir, mode: options.mode ?? 'vm', source, log, metrics: registry });
  return {
    dir,
    socketDir,
    source,
    endpoints,
    registry,
    logs,
    log,
    async metric(name, labels = {}) {
      const metric = registry.getSingleMetric(name);
      if (!metric) throw new Error(`metric ${name} is not registered`);
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      await endpoints.close();
      await source.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `read` until `done` holds or the deadline passes (for state only observable by polling). */
export async function pollUntil<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
