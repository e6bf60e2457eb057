// The chart against a real kube-apiserver: every object it renders is accepted (server-side apply, strict
// field validation) and stored as rendered; and the CA and the node agent, started the way the image and the
// chart start them (the Containerfile's runtime layout, its ENTRYPOINT, the chart's args, config and
// environment), run with exactly the chart's RBAC: the CA publishes the bundle ConfigMaps and the agent
// attests with its projected token and trusts the CA through the published bundle.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCaServerConfig } from '../../ca-server/config.js';
import { mergeLayers } from '../../core/config-values.js';
import { readNodeAgentConfig } from '../../node-agent/config.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { freePort } from '../support/free-port.js';
import {
  agentConfigOf,
  ALL_VALUES,
  applyChartRbac,
  applyStrict,
  caConfigOf,
  componentObject,
  type Fields,
  type K8sObject,
  RELEASE,
  renderChart,
  REPO_ROOT,
} from './chart.js';
import { copiesOf, execForm, instructionsOf, parseContainerfile } from './containerfile.js';

const NODE_NAME = 'worker-1';
const READY_TIMEOUT_MS = 60_000;

let cluster: KubeCluster;
let objects: K8sObject[];
/** The image's /app, laid out from the Containerfile's runtime stage. */
let image: string;
/** The pods' filesystems: a container path P is at <root>/P. */
let root: string;
const processes: ChildProcess[] = [];

const local = (containerPath: string) => path.join(root, containerPath);

/**
 * The runtime stage's COPY --from=build lines, done from the repository: the compiled dist/ (the build
 * stage's `npm run build`, here into the layout), and the other sources as they are. node_modules is the
 * repository's own, which Node finds above the layout (it lives under the checkout).
 */
async function layOutImage(dir: string): Promise<void> {
  const runtime = parseContainerfile().at(-1)!;
  for (const copy of copiesOf(runtime)) {
    for (const source of copy.sources.map((s) => path.posix.relative('/app', s))) {
      const target = path.join(dir, path.posix.relative('/app', copy.dest));
      if (source === 'dist') await compile(target);
      else if (source !== 'node_modules') await cp(path.join(REPO_ROOT, source), target, { recursive: true });
    }
  }
}

/** tsc with the build's tsconfig into `outDir`. Type errors are the typecheck's business; the JS is emitted anyway. */
async function compile(outDir: string): Promise<void> {
  const tsc = spawn(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  await once(tsc, 'exit');
}

/** The ENTRYPOINT with /app at the layout, and this test's node. */
function entrypoint(): string[] {
  const [node, script] = execForm(instructionsOf(parseContainerfile().at(-1)!, 'ENTRYPOINT').at(-1)!)!;
  expect(node).toBe('node');
  return [process.execPath, path.join(image, path.posix.relative('/app', script!))];
}

/** A process whose last output is kept for failure messages. */
function start(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output(): string } {
  const [command, ...rest] = [...entrypoint(), ...args];
  const child = spawn(command!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  processes.push(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-6000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => tail };
}

async function waitFor(what: string, proc: ReturnType<typeof start> | undefined, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${what}: the process exited (${proc.child.exitCode}):\n${proc.output()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${READY_TIMEOUT_MS} ms${proc ? `:\n${proc.output()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const ready = (port: number) => async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;

/** The chart's ConfigMaps, as kubelet would project them into the containers that mount them. */
async function projectConfigMaps(spec: Fields, container: Fields): Promise<void> {
  for (const mount of container.volumeMounts as Fields[]) {
    const volume = (spec.volumes as Fields[]).find((v) => v.name === mount.name);
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name);
    if (!configMap) continue;
    await mkdir(local(mount.mountPath), { recursive: true });
    for (const [key, text] of Object.entries(configMap.data as Record<string, string>)) await writeFile(path.join(local(mount.mountPath), key), text);
  }
}

/** The container's environment: the downward API filled in (the only valueFrom the chart uses), paths below `root`. */
function environment(container: Fields): NodeJS.ProcessEnv {
  return Object.fromEntries(
    ((container.env ?? []) as Fields[]).map((v) => {
      if (v.valueFrom) return [v.name, v.valueFrom.fieldRef.fieldPath === 'spec.nodeName' ? NODE_NAME : undefined];
      return [v.name, String(v.value).startsWith('/') ? local(v.value) : v.value];
    }),
  );
}

/** The container's args with every path under a mount moved below `root`. */
const localArgs = (args: string[]) => args.map((arg) => (arg.startsWith('/') ? local(arg) : arg));

beforeAll(async () => {
  cluster = await KubeCluster.start();
  objects = await renderChart();
  root = await mkdtemp(path.join(tmpdir(), 'meshid-pods-'));
  await mkdir(path.join(REPO_ROOT, '.cache'), { recursive: true });
  image = await mkdtemp(path.join(REPO_ROOT, '.cache', 'image-'));
  await layOutImage(image);
}, 180_000);

afterAll(async () => {
  await Promise.all(
    processes.filter((p) => p.exitCode === null && p.signalCode === null).map(async (p) => {
      const exited = once(p, 'exit');
      p.kill('SIGTERM');
      await exited;
    }),
  );
  await cluster?.stop();
  await Promise.all([root, image].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the CA and the node agent as the chart runs them, with the chart\'s RBAC', { timeout: 120_000 }, () => {
  let grpcPort: number;
  let bundlePem: string;
  let caEnv: NodeJS.ProcessEnv;

  it('the CA starts from the image\'s ENTRYPOINT with the chart\'s args and config, and becomes ready', async () => {
    const identities = await applyChartRbac(cluster);
    const spec = componentObject(objects, 'StatefulSet', 'ca').spec.template.spec;
    const container = spec.containers[0];
    await projectConfigMaps(spec, container);
    const config = readCaServerConfig(caConfigOf(objects));
    grpcPort = await freePort();
    const metricsPort = await freePort();
    await mkdir(local('/run/meshid'), { recursive: true });
    caEnv = environment(container);
    const ca = start(
      [
        ...localArgs(container.args),
        // What the pod provides otherwise: its volumes (below root), its network, its service-account credentials.
        `--dataDir=${local(config.dataDir)}`,
        `--listen.adminSocket=${local(config.listen.adminSocket)}`,
        `--listen.grpc=127.0.0.1:${grpcPort}`,
        `--listen.metrics=127.0.0.1:${metricsPort}`,
        `--kubernetes.kubeconfig=${await identities.caKubeconfig(path.join(root, 'ca.kubeconfig'))}`,
      ],
      caEnv,
    );
    await waitFor('CA /readyz', ca, ready(metricsPort));
  });

  it('the CA publishes its root bundle into every namespace, new ones included', async () => {
    const { name, key } = readCaServerConfig(caConfigOf(objects)).kubernetes.bundleConfigMap;
    await cluster.ensureNamespace('shop');
    const published = async (namespace: string) => {
      const res = await cluster.request('GET', `/api/v1/namespaces/${namespace}/configmaps/${name}`);
      return res.status === 200 ? (res.body.data?.[key] as string | undefined) : undefined;
    };
    for (const namespace of ['default', 'kube-system', RELEASE.namespace, 'shop']) {
      await waitFor(`ConfigMap ${namespace}/${name}`, undefined, async () => (await published(namespace))?.includes('-----BEGIN CERTIFICATE-----') === true);
    }
    bundlePem = (await published(RELEASE.namespace))!;
  });

  it('the agent attests with its projected token and trusts the CA through the published bundle', async () => {
    const spec = componentObject(objects, 'DaemonSet', 'agent').spec.template.spec;
    const container = spec.containers[0];
    await projectConfigMaps(spec, container);
    const env = environment(container);
    const config = readNodeAgentConfig(mergeLayers(agentConfigOf(objects), env, 'MESHID_AGENT_', {}));
    // kubelet's part: the bundle ConfigMap and the pod's projected token, at the paths the chart mounts them.
    await mkdir(path.dirname(local(config.server.trustBundleFile)), { recursive: true });
    await writeFile(local(config.server.trustBundleFile), bundlePem);
    const projected = (spec.volumes as Fields[]).find((v) => v.projected)!.projected.sources[0].serviceAccountToken;
    const account = spec.serviceAccountName as string;
    const pod = await cluster.createPod({ namespace: RELEASE.namespace, name: `${account}-x7k2p`, serviceAccount: account, nodeName: NODE_NAME });
    await mkdir(path.dirname(local(config.kubernetes.tokenFile)), { recursive: true });
    await writeFile(local(config.kubernetes.tokenFile), await cluster.podToken(pod, [projected.audience], projected.expirationSeconds));
    await mkdir(local(config.socketDir), { recursive: true });
    const opsPort = await freePort();
    const agent = start(
      [
        ...localArgs(container.args),
        `--server.address=127.0.0.1:${grpcPort}`, // the Service; the CA's certificate is still checked for its name
        `--server.trustBundleFile=${local(config.server.trustBundleFile)}`,
        `--kubernetes.tokenFile=${local(config.kubernetes.tokenFile)}`,
        `--socketDir=${local(config.socketDir)}`,
        `--listen.ops=127.0.0.1:${opsPort}`,
      ],
      env,
    );
    await waitFor('agent /readyz', agent, ready(opsPort));
  });

  it('`kubectl exec <CA pod> -- node /app/dist/cli/meshid.js agent list` (NOTES.txt) finds the admin socket and names the agent by its node', async () => {
    const cli = start(['agent', 'list', '--json'], caEnv);
    const [code] = (await once(cli.child, 'exit')) as [number];
    expect(code, cli.output()).toBe(0);
    const agents = JSON.parse(cli.output()) as Array<{ spiffe_id: string; attestation_type: string }>;
    expect(agents.map((a) => a.spiffe_id)).toEqual([`spiffe://cluster.local/meshid/agent/k8s/${NODE_NAME}`]);
  });
});

describe('every object the chart renders, on the API server', { timeout: 120_000 }, () => {
  /** The objects an API server without CRDs can store (the monitoring.coreos.com ones are checked in chart-render). */
  const storable = (all: K8sObject[]) => all.filter((o) => !o.apiVersion.startsWith('monitoring.coreos.com/'));

  it.each(Object.keys(ALL_VALUES))('%s: applies with strict field validation and reads back as rendered', async (name) => {
    for (const object of storable(await renderChart(ALL_VALUES[name]!))) {
      if (object.metadata.namespace) await cluster.ensureNamespace(object.metadata.namespace);
      await applyStrict(cluster, object);
      const base = await cluster.resourcePath(object.apiVersion, object.kind, object.metadata.namespace);
      const stored = await cluster.call('GET', `${base}/${object.metadata.name}`);
      expect(stored, `${object.kind} ${object.metadata.name}`).toMatchObject(object);
    }
  });
});
