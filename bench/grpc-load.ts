/**
 * Runs bench/grpc-load (a grpc-go load generator, provisioned as a peer) against a server in this
 * process: a native client like the servers' real callers (Envoy, istio-agent), so the figures measure the
 * Node server rather than a Node client. The child runs asynchronously, so this process keeps serving.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { requirePeer } from '../test/peers/peers.js';
import type { Measurement } from './harness.js';

export interface GrpcLoad {
  /** host:port or unix:///path */
  target: string;
  /** Full gRPC path, e.g. /envoy.service.auth.v3.Authorization/Check. */
  method: string;
  /** Serialised request messages, sent round-robin. */
  messages: Buffer[];
  /** Open loop at this many calls/s; otherwise closed loop with `concurrency` callers. */
  rate?: number;
  concurrency?: number;
  connections?: number;
  seconds: number;
  warmupSeconds?: number;
  /** TLS: trust bundle PEM, and the name to verify. */
  tls?: { caPem: string; serverName: string };
  /** Sent as `authorization: Bearer <token>`. */
  bearerToken?: string;
}

export interface LoadMeasurement extends Measurement {
  p999Us: number;
  /** Open loop: how late the generator started calls (p99), i.e. the measuring tool's own jitter. */
  lateP99Us?: number;
}

interface GrpcLoadOutput {
  calls: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  errors: number;
  firstError?: string;
  lateP99Us?: number;
}

export async function runGrpcLoad(name: string, load: GrpcLoad): Promise<LoadMeasurement> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-grpc-load-'));
  try {
    const requests = path.join(dir, 'requests.bin');
    await writeFile(requests, Buffer.concat(load.messages.flatMap((m) => [uint32(m.length), m])));
    const args = ['-target', load.target, '-method', load.method, '-requests', requests, '-duration', `${load.seconds}s`, '-warmup', `${load.warmupSeconds ?? 1}s`];
    if (load.rate) args.push('-rate', String(load.rate));
    if (load.concurrency) args.push('-concurrency', String(load.concurrency));
    if (load.connections) args.push('-connections', String(load.connections));
    if (load.tls) {
      await writeFile(path.join(dir, 'ca.pem'), load.tls.caPem);
      args.push('-ca', path.join(dir, 'ca.pem'), '-server-name', load.tls.serverName);
    }
    if (load.bearerToken) {
      await writeFile(path.join(dir, 'token'), load.bearerToken, { mode: 0o600 });
      args.push('-bearer', path.join(dir, 'token'));
    }
    const out = JSON.parse(await run(args)) as GrpcLoadOutput;
    if (out.errors > 0) throw new Error(`${name}: ${out.errors} of ${out.calls} calls failed, first: ${out.firstError ?? '?'}`);
    return { name, ops: out.calls, opsPerSec: out.perSecond, p50Us: out.p50Us, p99Us: out.p99Us, p999Us: out.p999Us, lateP99Us: out.lateP99Us };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** grpc-load's reference server: a native grpc-go server answering every call, the machine's own limit. */
export async function startReferenceServer(address: string): Promise<{ close(): void }> {
  const child = await startServerChild(requirePeer('grpc-load'), ['-serve', address]);
  return { close: () => void child.kill() };
}

/** Spawns a server process and resolves once it prints its first line (its "ready"). */
export async function startServerChild(command: string, args: string[]): Promise<ChildProcessByStdio<Writable, Readable, null>> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${path.basename(command)} exited with ${code} before it was ready`)));
    child.stdout.once('data', () => resolve());
  });
  child.removeAllListeners('exit');
  return child;
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(requirePeer('grpc-load'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`grpc-load exited with ${code}: ${stderr.trim()}`))));
  });
}

function uint32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}
