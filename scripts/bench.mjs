// `npm run bench [-- <name filter>]`: provisions peers, compiles with tsconfig.bench.json, then runs every
// dist/bench/*.bench.js in its own node process (one benchmark never warms up or slows another).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2] ?? '';

// The load generator (bench/grpc-load) is provisioned with the interop peers.
const provision = spawnSync('bash', ['scripts/provision-peers.sh'], { cwd: root, stdio: 'inherit' });
if (provision.status !== 0) {
  console.error('bench: provisioning the peers failed; see above');
  process.exit(provision.status ?? 1);
}

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('bench: the TypeScript build failed; fix the errors above first');
  process.exit(build.status ?? 1);
}

const dir = path.join(root, 'dist', 'bench');
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js') && f.includes(filter))
  .sort();
if (benches.length === 0) {
  console.error(`bench: no dist/bench/*.bench.js matches "${filter}"`);
  process.exit(1);
}

let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const run = spawnSync(process.execPath, [path.join(dir, file)], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) {
    console.error(`bench: ${file} exited with ${run.status ?? run.signal}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
