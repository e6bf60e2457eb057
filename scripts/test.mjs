// `npm test`: provision the real peers (idempotent), run the whole vitest suite, scan every log line it
// produced for secrets, and close with the plain "N passed, N failed" line CI reads (the scan included).
// Extra arguments go to vitest (e.g. `npm test -- core/`); such a partial run skips the log scan, whose
// minimum line count and logger coverage only a whole run meets.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;
const vitest = (report, args, env) =>
  run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], env);

/** Counts from a vitest JSON report, or undefined when the run wrote none. */
function counts(report) {
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    return { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests, total: r.numTotalTests };
  } catch {
    return undefined;
  }
}

if (run('bash', ['scripts/provision-peers.sh']) !== 0) {
  console.error('provisioning the interop peers failed; see above');
  process.exit(1);
}
mkdirSync('.cache', { recursive: true });
const filters = process.argv.slice(2);
const scanLogs = filters.length === 0;
// core/log.ts tees every logger of every process started below (vitest workers, spawned CLIs) into this dir.
const captureDir = path.resolve('.cache/log-capture', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
const env = scanLogs ? { ...process.env, MESHID_LOG_CAPTURE_DIR: captureDir } : process.env;
if (scanLogs) mkdirSync(captureDir, { recursive: true });

const suiteReport = '.cache/vitest-report.json';
const status = vitest(suiteReport, filters, env);
const suite = counts(suiteReport);
if (!suite) {
  console.error('vitest wrote no report: the suite did not run');
  process.exit(1);
}
let scan = { passed: 0, failed: 0, skipped: 0, total: 0 };
if (scanLogs) {
  const scanReport = '.cache/vitest-log-scan-report.json';
  vitest(scanReport, ['--config', 'test/logs/scan.vitest.config.ts'], env);
  scan = counts(scanReport) ?? { passed: 0, failed: 1, skipped: 0, total: 1 };
  if (scan.failed === 0) rmSync(captureDir, { recursive: true, force: true });
  else console.error(`log scan failed; the captured logs are in ${captureDir}`);
} else {
  console.log('\nlog scan: not run for a partial run (it needs the whole suite\'s logs)');
}

const passed = suite.passed + scan.passed;
const failed = suite.failed + scan.failed;
const skipped = suite.skipped + scan.skipped;
console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (suite.total === 0) process.exit(1);
process.exit(status !== 0 ? status : scan.failed > 0 ? 1 : 0);
