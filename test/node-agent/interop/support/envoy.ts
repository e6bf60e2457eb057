// Runs a real Envoy (the provisioned peer) from a bootstrap object, with its admin API on a Unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { requirePeer } from '../../../peers/peers.js';
import { pollUntil } from './agent-fixture.js';

export interface EnvoyProcess {
  name: string;
  /** GET on the admin API; resolves with status and body. */
  admin(pathAndQuery: string): Promise<{ status: number; body: string }>;
  /** Sum of every stat whose name ends with `suffix`. */
  statSum(suffix: string): Promise<number>;
  /** Resolves once the server is LIVE (all SDS secrets arrived, listeners warm). */
  ready(timeoutMs?: number): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export async function startEnvoy(options: { name: string; dir: string; bootstrap: Record<string, unknown>; adminSocket: string }): Promise<EnvoyProcess> {
  const configFile = path.join(options.dir, `${options.name}-envoy.json`);
  await writeFile(configFile, JSON.stringify(options.bootstrap));
  const child: ChildProcess = spawn(
    requirePeer('envoy'),
    // A base id of its own so parallel Envoys never share hot-restart shared memory.
    ['-c', configFile, '--base-id', String(randomInt(1, 2 ** 30)), '-l', 'warning', '--concurrency', '1'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const admin = (pathAndQuery: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ socketPath: options.adminSocket, path: pathAndQuery }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
  const alive = () => {
    if (child.exitCode !== null) throw new Error(`envoy ${options.name} exited with ${child.exitCode}:\n${output.slice(-4000)}`);
  };

  return {
    name: options.name,
    admin,
    async statSum(suffix) {
      alive();
      const { body } = await admin(`/stats?filter=${encodeURIComponent(`${suffix}$`)}`);
      return body
        .split('\n')
        .map((line) => /: (\d+)$/.exec(line)?.[1])
        .filter((v): v is string => v !== undefined)
        .reduce((sum, v) => sum + Number(v), 0);
    },
    async ready(timeoutMs = 20_000) {
      await pollUntil(
        async () => {
          alive();
          return admin('/ready').catch(() => ({ status: 0, body: 'admin not up' }));
        },
        (r) => r.status === 200 && r.body.trim() === 'LIVE',
        `envoy ${options.name} to be LIVE`,
        timeoutMs,
      );
    },
    log: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
