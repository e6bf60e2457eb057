// `npm test`: provision the real peers (idempotent), run the whole vitest suite, and close with the plain
// "N passed, N failed" line CI reads. Extra arguments go to vitest (e.g. `npm test -- core/`).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;

if (run('bash', ['scripts/provision-peers.sh']) !== 0) {
  console.error('provisioning the interop peers failed; see above');
  process.exit(1);
}
mkdirSync('.cache', { recursive: true });
const report = '.cache/vitest-report.json';
const status = run(process.execPath, [
  'node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`,
  ...process.argv.slice(2),
]);
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (r.numTotalTests === 0) process.exit(1);
} catch {
  console.error('vitest wrote no report: the suite did not run');
  process.exit(1);
}
process.exit(status);
