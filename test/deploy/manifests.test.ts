import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requirePeer } from '../peers/peers.js';
import { parseManifests, RELEASE, renderChart, REPO_ROOT } from './chart.js';

const read = (file: string) => readFileSync(path.join(REPO_ROOT, 'deploy/kubernetes', file), 'utf8');

describe('deploy/kubernetes is generated from the chart', () => {
  it('equals a fresh render (scripts/render-manifests.mjs --check)', async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(REPO_ROOT, 'scripts/render-manifests.mjs'), '--check', '--helm', requirePeer('helm')],
        { cwd: REPO_ROOT, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr }),
      ),
    );
    expect(result).toEqual({ code: 0, output: 'deploy/kubernetes is up to date\n' });
  });

  it('holds every object of the chart once (with the Namespace, for kubectl apply), and each file says it is generated', async () => {
    const files = ['ca-server.yaml', 'node-agent.yaml'];
    for (const file of files) expect(read(file)).toMatch(/^# GENERATED from the Helm chart deploy\/helm\/meshid by scripts\/render-manifests\.mjs/);
    const chart = await renderChart({ createNamespace: true });
    const [ca, agent] = files.map((file) => parseManifests(read(file)));
    expect([...ca!, ...agent!]).toEqual(expect.arrayContaining(chart));
    expect(ca!.length + agent!.length).toBe(chart.length);
    expect(ca![0]).toMatchObject({ kind: 'Namespace', metadata: { name: RELEASE.namespace } });
    expect(new Set(agent!.map((o) => o.metadata.labels?.['app.kubernetes.io/component']))).toEqual(new Set(['agent']));
  });
});
