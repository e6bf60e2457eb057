import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/**
 * V8 flags deploy/ runs the node agent with (DaemonSet and systemd unit): a 1 MB young generation trades a
 * little GC CPU for ~25 MB less RSS at 1,000 streams, and keeps each scavenge pause short. Benchmarks of
 * agent parts run them in a process started with these flags.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'];

/** One measured row of a benchmark table. */
export interface Measurement {
  name: string;
  ops: number;
  opsPerSec: number;
  /** Per-operation latency percentiles in microseconds. */
  p50Us: number;
  p99Us: number;
}

export interface MeasureOptions {
  /** Timed duration; the loop stops at the first operation ending after it. Default 3 s. */
  seconds?: number;
  /** Untimed calls first, so JIT and caches settle. Default 200. */
  warmup?: number;
}

/** Times a synchronous operation back to back on the calling thread (one core). */
export function measureSync(name: string, op: (i: number) => void, options: MeasureOptions = {}): Measurement {
  const { seconds = 3, warmup = 200 } = options;
  for (let i = 0; i < warmup; i++) op(i);
  const latencies = new LatencyLog();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  for (let i = 0; now < deadline; i++) {
    const before = now;
    op(i);
    now = process.hrtime.bigint();
    latencies.add(now - before);
  }
  return latencies.summarise(name, now - start);
}

/**
 * Times an asynchronous operation with `concurrency` callers in flight, each starting its next call when
 * the previous one settles. Latency is per call, throughput is over the whole run.
 */
export async function measureAsync(
  name: string,
  op: (i: number) => Promise<unknown>,
  options: MeasureOptions & { concurrency?: number } = {},
): Promise<Measurement> {
  const { seconds = 3, warmup = 200, concurrency = 1 } = options;
  for (let i = 0; i < warmup; i++) await op(i);
  const latencies = new LatencyLog();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let next = 0;
  const caller = async () => {
    while (process.hrtime.bigint() < deadline) {
      const before = process.hrtime.bigint();
      await op(next++);
      latencies.add(process.hrtime.bigint() - before);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return latencies.summarise(name, process.hrtime.bigint() - start);
}

class LatencyLog {
  private values = new Float64Array(1 << 16);
  private count = 0;

  add(ns: bigint): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = Number(ns) / 1000;
  }

  summarise(name: string, elapsedNs: bigint): Measurement {
    const sorted = this.values.subarray(0, this.count).sort();
    return {
      name,
      ops: this.count,
      opsPerSec: this.count / (Number(elapsedNs) / 1e9),
      p50Us: percentile(sorted, 0.5),
      p99Us: percentile(sorted, 0.99),
    };
  }
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The machine a run happened on, printed above the tables so numbers can be compared. */
export function describeMachine(): string {
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `node ${process.version}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, load average ${load}`;
}

/** Prints measurements as an aligned table, with each row's throughput relative to `baseline`. */
export function printTable(title: string, rows: Measurement[], baseline?: Measurement): void {
  const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');
  const header = ['', 'ops/s', 'p50 µs', 'p99 µs', ...(baseline ? [`vs ${baseline.name}`] : [])];
  const body = rows.map((r) => [
    r.name,
    fmt(r.opsPerSec),
    fmt(r.p50Us, 1),
    fmt(r.p99Us, 1),
    ...(baseline ? [`${fmt(r.opsPerSec / baseline.opsPerSec, 3)}x`] : []),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
}

/**
 * CPU time (µs) of this process's main thread, the event loop, from Linux's schedstat; undefined where that
 * is not available. process.cpuUsage() counts every thread (libuv pool, GC helpers) together.
 */
export function eventLoopThreadCpuMicros(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return undefined;
  }
}
