// Regenerates deploy/kubernetes/*.yaml from the Helm chart, the one source of the Kubernetes objects:
//   node scripts/render-manifests.mjs            write them
//   node scripts/render-manifests.mjs --check    exit 1 when they differ from a fresh render (test/deploy runs it)
// helm is the one scripts/provision-peers.sh builds (.cache/peers/bin/helm); --helm PATH picks another.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHART = 'deploy/helm/meshid';
const OUT_DIR = path.join(ROOT, 'deploy/kubernetes');
// kubectl apply has no --create-namespace: these manifests carry the Namespace object.
const TEMPLATE_ARGS = ['template', 'meshid', CHART, '--namespace', 'meshid-system', '--set', 'createNamespace=true'];
/** Output file per chart template: the agent's templates (agent-*.yaml) and everything else, the CA's. */
const fileOf = (template) => (path.basename(template).startsWith('agent-') ? 'node-agent.yaml' : 'ca-server.yaml');

const { values: options } = parseArgs({
  options: { check: { type: 'boolean', default: false }, helm: { type: 'string', default: path.join(ROOT, '.cache/peers/bin/helm') } },
});

function header(file) {
  const apply = file === 'node-agent.yaml' ? 'after ca-server.yaml' : 'first';
  return [
    `# GENERATED from the Helm chart ${CHART} by scripts/render-manifests.mjs: do not edit, change the chart.`,
    '# Regenerate: node scripts/render-manifests.mjs (helm from bash scripts/provision-peers.sh), which runs',
    `#   helm ${TEMPLATE_ARGS.join(' ')}`,
    `# Apply ${apply}: kubectl apply --server-side -f deploy/kubernetes/${file}`,
    '',
  ].join('\n');
}

/** The rendered documents, each with its "# Source: <chart>/templates/<file>" line, grouped by output file. */
function render() {
  if (!existsSync(options.helm)) throw new Error(`helm not found at ${options.helm}: run bash scripts/provision-peers.sh`);
  const manifest = execFileSync(options.helm, TEMPLATE_ARGS, { cwd: ROOT, encoding: 'utf8' });
  const files = new Map([['ca-server.yaml', []], ['node-agent.yaml', []]]);
  for (const doc of manifest.split(/^---\n/m).map((d) => d.trim()).filter(Boolean)) {
    const source = /^# Source: (\S+)$/m.exec(doc)?.[1];
    if (!source) throw new Error(`a rendered document has no "# Source:" line:\n${doc.slice(0, 200)}`);
    files.get(fileOf(source)).push(doc);
  }
  return new Map([...files].map(([file, docs]) => [file, `${header(file)}---\n${docs.join('\n---\n')}\n`]));
}

const stale = [];
for (const [file, text] of render()) {
  const target = path.join(OUT_DIR, file);
  const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
  if (current === text) continue;
  stale.push(`deploy/kubernetes/${file}`);
  if (!options.check) writeFileSync(target, text);
}
if (options.check && stale.length > 0) {
  console.error(`${stale.join(', ')} differ from the chart: run node scripts/render-manifests.mjs`);
  process.exit(1);
}
console.log(stale.length > 0 ? `wrote ${stale.join(', ')}` : 'deploy/kubernetes is up to date');
