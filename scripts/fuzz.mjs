// `npm run fuzz [-- --runs N] [filter...]`: the long fuzz run of test/fuzz. Each target takes N inputs
// (default 1,000,000; socket targets cap themselves and say so), through the same vitest code path as
// `npm test`, one file after another so the timings are the target's own. A filter picks test files by
// name (csr, spiffeid, policy, hpack, h2-server). Prints inputs, seconds, inputs/s and failures per target;
// exits non-zero when any target or test failed. FUZZ_SEED=<seed> replays a printed seed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
let runs = 1_000_000;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i].startsWith('--runs=')) runs = Number(args[i].slice('--runs='.length));
  else filters.push(args[i]);
}
if (!Number.isInteger(runs) || runs <= 0) {
  console.error('usage: npm run fuzz -- [--runs N] [filter...]   (N a positive integer)');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-fuzz-'));
const report = path.join(dir, 'targets.jsonl');
const results = path.join(dir, 'vitest.json');
const files = filters.length > 0 ? filters.map((f) => `test/fuzz/${f}`) : ['test/fuzz'];
console.log(`fuzzing ${files.join(' ')} with ${runs.toLocaleString('en-US')} inputs per target${process.env.FUZZ_SEED ? `, seed ${process.env.FUZZ_SEED}` : ''}\n`);
const vitest = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', ...files, '--fileParallelism=false', `--testTimeout=${24 * 3600_000}`, '--reporter=default', '--reporter=json', `--outputFile.json=${results}`],
  { stdio: 'inherit', env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_REPORT: report } },
);

const targets = existsSync(report) ? readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)) : [];
const number = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rows = targets.map((t) => [
  t.target,
  number(t.inputs),
  number(t.seconds, 1),
  number(t.inputs / t.seconds),
  String(t.failures),
  [t.inputs < t.requested && !t.failures ? `capped at ${number(t.inputs)} of ${number(t.requested)} requested` : '', t.failures ? `replay: FUZZ_SEED=${t.seed}` : ''].filter(Boolean).join('; '),
]);
const header = ['target', 'inputs', 'seconds', 'inputs/s', 'failures', 'note'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
console.log(`\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}`);
for (const row of rows) console.log(line(row));

let failedTests = [];
try {
  const r = JSON.parse(readFileSync(results, 'utf8'));
  failedTests = r.testResults.flatMap((file) => file.assertionResults.filter((a) => a.status === 'failed').map((a) => `${path.relative(process.cwd(), file.name)}: ${a.fullName}`));
} catch {
  console.error('vitest wrote no report: the fuzz run did not complete');
}
if (failedTests.length > 0) console.log(`\nfailed tests:\n${failedTests.map((t) => `  ${t}`).join('\n')}`);
rmSync(dir, { recursive: true, force: true });
const failures = targets.reduce((n, t) => n + t.failures, 0);
process.exit(vitest.status === 0 && failures === 0 && targets.length > 0 ? 0 : 1);
