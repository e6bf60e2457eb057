// There is no container engine on the CI machine: the Containerfile is linted here, and its runtime stage
// is laid out and run for real in in-cluster.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { componentObject, type Fields, type K8sObject, renderChart, REPO_ROOT } from './chart.js';
import { copiesOf, execForm, instructionsOf, parseContainerfile, type Stage } from './containerfile.js';

const stages = parseContainerfile();
const build = stages[0]!;
const runtime = stages.at(-1)!;
const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(REPO_ROOT, file), 'utf8')) as T;
const runs = (stage: Stage) => instructionsOf(stage, 'RUN').join('\n');

describe('Containerfile', () => {
  it('is multi-stage: a named build stage, and a runtime stage copying only from it', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    const copies = copiesOf(runtime);
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every((c) => c.from === 'build')).toBe(true);
    expect(instructionsOf(runtime, 'RUN')).toEqual([]); // nothing runs in the runtime image, no shell needed
  });

  it('pins every base image to a release (no latest, no floating major), the same Node in both stages', () => {
    for (const { image } of stages) {
      expect(image).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$/);
      expect(image).not.toMatch(/:latest\b/);
    }
    expect(runtime.image).toBe(build.image); // better-sqlite3's addon is built for the build stage's Node ABI
    expect(build.image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim/);
  });

  it('the runtime stage runs as the numeric non-root user the chart sets', async () => {
    const user = instructionsOf(runtime, 'USER').at(-1);
    expect(user).toBe('65532:65532');
    const objects = await renderChart();
    for (const workload of [componentObject(objects, 'StatefulSet', 'ca'), componentObject(objects, 'DaemonSet', 'agent')]) {
      expect(`${workload.spec.template.spec.securityContext.runAsUser}:${workload.spec.template.spec.securityContext.runAsGroup}`).toBe(user);
    }
  });

  it('installs with npm ci from the lockfile, never npm install', () => {
    expect(runs(build)).toMatch(/\bnpm ci\b/);
    expect(stages.map(runs).join('\n')).not.toMatch(/\bnpm (install|i)\b/);
    expect(runs(build)).toMatch(/npm prune --omit=dev/);
    expect(copiesOf(build).find((c) => c.sources.includes('package-lock.json'))).toBeDefined();
  });

  it('fetches nothing with ADD (no URLs, no archives)', () => {
    expect(stages.flatMap((s) => instructionsOf(s, 'ADD'))).toEqual([]);
  });

  it('installs the toolchain better-sqlite3 needs to build natively', () => {
    expect(runs(build)).toMatch(/apt-get install .*\bpython3\b.*\bmake\b.*\bg\+\+/);
  });
});

describe('what the image copies exists', () => {
  it('every build-context source is in the repository and in the .dockerignore allow-list', () => {
    const ignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toContain('*'); // an allow-list: nothing reaches the build unless named
    for (const source of copiesOf(build).flatMap((c) => c.sources)) {
      expect(existsSync(path.join(REPO_ROOT, source)), source).toBe(true);
      expect(ignore, source).toContain(`!${source}`);
    }
  });

  it('every runtime copy is something the build stage made: a copied source, node_modules (npm ci) or the compiled dist', () => {
    const tsconfig = readJson<{ compilerOptions?: { outDir?: string } }>('tsconfig.build.json');
    const base = readJson<{ compilerOptions: { outDir: string } }>('tsconfig.json');
    const outDir = tsconfig.compilerOptions?.outDir ?? base.compilerOptions.outDir;
    const pkg = readJson<{ scripts: Record<string, string> }>('package.json');
    expect(runs(build)).toMatch(/\bnpm run build\b/);
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const made = new Set(['/app/node_modules', `/app/${outDir}`]);
    // Several sources go into the destination directory; one source becomes the destination.
    for (const copy of copiesOf(build)) {
      for (const source of copy.sources) made.add(copy.sources.length > 1 ? path.posix.join(copy.dest, path.basename(source)) : copy.dest);
    }
    for (const copy of copiesOf(runtime)) for (const source of copy.sources) expect(made, source).toContain(source);
  });

  it('the ENTRYPOINT is the compiled CLI, in exec form, and it is the package\'s bin', () => {
    const entrypoint = execForm(instructionsOf(runtime, 'ENTRYPOINT').at(-1) ?? '');
    expect(entrypoint).toEqual(['node', '/app/dist/cli/meshid.js']);
    const pkg = readJson<{ bin: Record<string, string> }>('package.json');
    expect(`/app/${pkg.bin.meshid}`).toBe(entrypoint![1]);
    const build = readJson<{ include: string[] }>('tsconfig.build.json');
    expect(build.include).toContain('cli');
    expect(existsSync(path.join(REPO_ROOT, 'cli/meshid.ts'))).toBe(true);
    expect(copiesOf(runtime).map((c) => c.dest)).toContain('/app/dist');
  });

  it('every .proto the code loads at runtime is in the copied protos directory', () => {
    const loaded = new Set<string>();
    const scan = (dir: string) => {
      for (const entry of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) scan(file);
        else if (file.endsWith('.ts') && !file.endsWith('.test.ts')) {
          for (const [, proto] of readFileSync(path.join(REPO_ROOT, file), 'utf8').matchAll(/'([\w/]+\.proto)'/g)) loaded.add(proto!);
        }
      }
    };
    for (const dir of ['core', 'ca-server', 'node-agent', 'plugins', 'cli']) scan(dir);
    expect(loaded.size).toBeGreaterThanOrEqual(5);
    expect(copiesOf(runtime).find((c) => c.sources.includes('/app/protos'))?.dest).toBe('/app/protos');
    for (const proto of loaded) expect(existsSync(path.join(REPO_ROOT, 'protos', proto)), proto).toBe(true);
  });
});

describe('the chart runs the image\'s ENTRYPOINT', () => {
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = await renderChart({ upstream: { type: 'files', files: { secretName: 'cacerts' } } });
  });
  const entrypoint = () => execForm(instructionsOf(runtime, 'ENTRYPOINT').at(-1)!)!;

  it('main containers pass args only, so the ENTRYPOINT (the CLI) runs them', () => {
    const pods = [componentObject(objects, 'StatefulSet', 'ca'), componentObject(objects, 'DaemonSet', 'agent')].map((w) => w.spec.template.spec);
    const containers = pods.flatMap((p) => p.containers as Fields[]);
    expect(containers.map((c) => [c.command, c.args.slice(0, c.args.indexOf('--config'))])).toEqual([
      [undefined, ['server']],
      [undefined, ['agent', 'run']],
    ]);
  });

  it('init containers replace the ENTRYPOINT with the same node binary', () => {
    const pods = [componentObject(objects, 'StatefulSet', 'ca'), componentObject(objects, 'DaemonSet', 'agent')].map((w) => w.spec.template.spec);
    const inits = pods.flatMap((p) => (p.initContainers ?? []) as Fields[]);
    expect(inits.map((c) => c.name).sort()).toEqual(['operator-ca', 'socket-dir']);
    for (const init of inits) expect(init.command[0]).toBe(entrypoint()[0]);
  });
});
