/**
 * The one place fuzz targets get their run counts and report results.
 *
 * Under `npm test` each target runs its short default (the whole test/fuzz suite stays within ~20 s on two
 * cores). `npm run fuzz` (scripts/fuzz.mjs) sets FUZZ_RUNS for the long run, FUZZ_SEED to replay, and
 * FUZZ_REPORT to a file where each target appends one JSON line: inputs, seconds and failures.
 * fast-check prints the seed and the shrunk counterexample of a failure.
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

export interface FuzzOptions {
  /** Inputs under `npm test`. */
  defaultRuns: number;
  /**
   * Most inputs the target takes in a long run, when FUZZ_RUNS is more than is feasible (socket targets);
   * the report then says how many really ran.
   */
  maxRuns?: number;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  requested: number;
  seconds: number;
  failures: number;
  seed: number;
}

const envRuns = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
if (envRuns !== undefined && !(Number.isInteger(envRuns) && envRuns > 0)) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);

/** Inputs this target runs now: FUZZ_RUNS (capped by maxRuns) or its default. */
export function runsFor(options: FuzzOptions): { runs: number; requested: number } {
  const requested = envRuns ?? options.defaultRuns;
  return { runs: Math.min(requested, options.maxRuns ?? requested), requested };
}

/** A long run needs far more than vitest's per-test timeout; the default run keeps the configured one. */
export const fuzzTimeout = (): number | undefined => (envRuns === undefined ? undefined : 24 * 3600_000);

/** Runs a property for this target's input count, records the result, and throws fast-check's report on failure. */
export async function fuzz<Ts>(target: string, property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>, options: FuzzOptions): Promise<void> {
  const { runs, requested } = runsFor(options);
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x1_0000_0000);
  const started = performance.now();
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, { numRuns: runs, seed });
  const seconds = (performance.now() - started) / 1000;
  const report: FuzzReport = { target, inputs: details.numRuns, requested, seconds, failures: details.failed ? 1 : 0, seed: details.seed };
  if (process.env.FUZZ_REPORT) appendFileSync(process.env.FUZZ_REPORT, `${JSON.stringify(report)}\n`);
  if (details.failed) {
    const error = details.errorInstance;
    const why = error instanceof Error ? (error.stack ?? error.message) : String(error);
    throw new Error(`fuzz target ${target} failed\n${fc.defaultReportMessage(details)}\n${why}`, { cause: error });
  }
}

/**
 * An assertion for hot property bodies: vitest's expect costs tens of microseconds a call, more than most
 * targets themselves, and the message is only built on failure.
 */
export function check(ok: boolean, message: () => string): asserts ok {
  if (!ok) throw new Error(message());
}
