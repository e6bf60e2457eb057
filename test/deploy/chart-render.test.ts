import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readCaServerConfig, type CaServerConfig } from '../../ca-server/config.js';
import { mergeLayers } from '../../core/config-values.js';
import { readNodeAgentConfig } from '../../node-agent/config.js';
import {
  agentConfigOf,
  ALL_VALUES,
  caConfigOf,
  CHART_DIR,
  componentObject,
  FEATURE_VALUES,
  helmWithValues,
  type Fields,
  type K8sObject,
  RELEASE,
  renderChart,
  REPO_ROOT,
  UPSTREAM_VALUES,
} from './chart.js';

const run = promisify(execFile);
const NODE_NAME = 'worker-1';
/** kubelet's automounted API token: present in every pod that does not opt out, with no volumeMount in the spec. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Container = Fields;
type PodSpec = Fields;

const podSpec = (workload: K8sObject): PodSpec => workload.spec.template.spec;
const allContainers = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];
const mainContainer = (spec: PodSpec): Container => {
  expect(spec.containers).toHaveLength(1);
  return spec.containers[0];
};

/** The volume serving `file` in `container`, and the file's path inside that volume. */
function volumeOf(spec: PodSpec, container: Container, file: string): { volume: Fields; readOnly: boolean; relative: string } {
  const mount = (container.volumeMounts as Fields[] | undefined)
    ?.filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) throw new Error(`${file} is on no volume of container ${container.name} (its root filesystem is read-only)`);
  const volume = (spec.volumes as Fields[]).find((v) => v.name === mount.name) ?? { name: mount.name, persistentVolumeClaim: {} };
  return { volume, readOnly: mount.readOnly === true, relative: path.relative(mount.mountPath, file) };
}

/** `file` is readable in the container: on a mounted volume, and for a ConfigMap or token, a key that is there. */
function expectReadable(objects: K8sObject[], spec: PodSpec, container: Container, file: string): void {
  if (file.startsWith(`${SERVICE_ACCOUNT_DIR}/`)) {
    expect(spec.automountServiceAccountToken).toBe(true);
    return;
  }
  const { volume, relative } = volumeOf(spec, container, file);
  if (volume.configMap) {
    const rendered = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
    const keys = volume.configMap.items?.map((i: Fields) => i.path) ?? Object.keys(rendered?.data ?? {});
    if (rendered || volume.configMap.items) expect(keys).toContain(relative);
  }
  if (volume.projected) expect(volume.projected.sources.map((s: Fields) => s.serviceAccountToken?.path)).toContain(relative);
}

/** `dir` is writable in the container: a read-write mount of a volume (the root filesystem is read-only). */
function expectWritable(spec: PodSpec, container: Container, dir: string): Fields {
  const { volume, readOnly } = volumeOf(spec, container, dir);
  expect(readOnly, `${dir} in ${container.name}`).toBe(false);
  expect(volume.configMap ?? volume.secret ?? volume.projected).toBeUndefined();
  return volume;
}

/** The agent's environment as a process sees it, with the downward API filled in. */
function agentEnvironment(container: Container): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const variable of container.env as Fields[]) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    expect(variable.value !== undefined || field === 'spec.nodeName', variable.name).toBe(true);
    env[variable.name] = variable.value ?? NODE_NAME;
  }
  return env;
}

function loadCaConfig(objects: K8sObject[]): CaServerConfig {
  return readCaServerConfig(caConfigOf(objects));
}

function loadAgentConfig(objects: K8sObject[]) {
  const agent = mainContainer(podSpec(componentObject(objects, 'DaemonSet', 'agent')));
  return readNodeAgentConfig(mergeLayers(agentConfigOf(objects), agentEnvironment(agent), 'MESHID_AGENT_', {}));
}

const rendered = new Map<string, K8sObject[]>();
beforeAll(async () => {
  for (const [name, values] of Object.entries(ALL_VALUES)) rendered.set(name, await renderChart(values));
}, 120_000);
const sets = () => [...rendered.entries()];
const defaults = () => rendered.get('self-signed')!;

describe('the CA configuration rendered by the chart', () => {
  it.each(Object.keys(ALL_VALUES))('%s: loads with the CA\'s own config reader (ca-server/config.ts)', (name) => {
    const objects = rendered.get(name)!;
    const config = loadCaConfig(objects);
    expect(config.trustDomain.name).toBe('cluster.local');
    expect(config.kubernetes.mode).not.toBe('disabled');
  });

  it.each(Object.keys(UPSTREAM_VALUES))('%s: selects that upstream', (name) => {
    const values = UPSTREAM_VALUES[name as keyof typeof UPSTREAM_VALUES] as { upstream?: { type: string } };
    expect(loadCaConfig(rendered.get(name)!).ca.upstream.type).toBe(values.upstream?.type ?? 'self-signed');
  });

  it('every file the CA reads is mounted, and everything it writes is on a writable volume', () => {
    for (const [name, objects] of sets()) {
      const config = loadCaConfig(objects);
      const spec = podSpec(componentObject(objects, 'StatefulSet', 'ca'));
      const ca = mainContainer(spec);
      const upstream = config.ca.upstream as { dir?: string; caFile?: string; auth?: { tokenFile?: string; secretIdFile?: string } };
      const verifier = config.kubernetes.verifier as { jwksFile?: string; caFile?: string };
      const reads = [upstream.dir, upstream.caFile, upstream.auth?.tokenFile, upstream.auth?.secretIdFile, verifier.jwksFile, verifier.caFile];
      for (const file of reads.filter((f): f is string => Boolean(f))) expectReadable(objects, spec, ca, file);
      expect(expectWritable(spec, ca, config.dataDir), `${name}: dataDir is the persistent volume`).toMatchObject({ persistentVolumeClaim: {} });
      expectWritable(spec, ca, path.dirname(config.listen.adminSocket));
      expectWritable(spec, ca, path.dirname(config.auditLog));
    }
  });

  it('the CA runs `server --config <the ConfigMap\'s meshid.yaml>`', () => {
    for (const [, objects] of sets()) {
      const spec = podSpec(componentObject(objects, 'StatefulSet', 'ca'));
      const ca = mainContainer(spec);
      expect(ca.command).toBeUndefined();
      expect(ca.args).toEqual(['server', '--config', expect.any(String)]);
      const { volume, relative } = volumeOf(spec, ca, ca.args[2]);
      expect(volume.configMap.name).toBe(componentObject(objects, 'ConfigMap', 'ca').metadata.name);
      expect(relative).toBe('meshid.yaml');
    }
  });

  it('the listeners are the container ports the Service, the probes and the NetworkPolicy use', () => {
    const objects = defaults();
    const config = loadCaConfig(objects);
    const ca = mainContainer(podSpec(componentObject(objects, 'StatefulSet', 'ca')));
    const ports = Object.fromEntries((ca.ports as Fields[]).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ grpc: config.listen.grpc.port, metrics: config.listen.metrics.port });
    expect(config.listen.grpc.host).toBe('0.0.0.0');
    const service = componentObject(objects, 'Service', 'ca');
    expect(service.spec.ports.map((p: Fields) => [p.port, ports[p.targetPort]])).toEqual([[15012, 15012], [15014, 15014]]);
    expect([ca.readinessProbe.httpGet, ca.livenessProbe.httpGet]).toEqual([{ path: '/readyz', port: 'metrics' }, { path: '/healthz', port: 'metrics' }]);
    const policy = componentObject(objects, 'NetworkPolicy', 'ca');
    expect(policy.spec.ingress.map((rule: Fields) => rule.ports[0].port)).toEqual([15012, 15014]);
    expect(policy.spec.podSelector.matchLabels).toEqual(service.spec.selector);
  });

  it('the serving certificate names the Service the agents dial', () => {
    for (const [, objects] of sets()) {
      const config = loadCaConfig(objects);
      const agent = loadAgentConfig(objects);
      const service = componentObject(objects, 'Service', 'ca');
      const host = `${service.metadata.name}.${service.metadata.namespace}.svc`;
      expect(agent.server.addresses).toEqual([`${host}:${service.spec.ports.find((p: Fields) => p.name === 'grpc').port}`]);
      expect(agent.server.tlsServerName).toBe(host);
      expect(config.serverDnsNames).toContain(host);
    }
  });

  it('Istio: istio-agent\'s audience and istiod\'s name are added', () => {
    const config = loadCaConfig(rendered.get('istio')!);
    expect(config.kubernetes.audiences).toEqual(['meshid', 'istio-ca']);
    expect(config.serverDnsNames).toContain('istiod.istio-system.svc');
    expect(config.policies.kubernetes).toBe(true);
    expect(loadCaConfig(defaults()).serverDnsNames).not.toContain('istiod.istio-system.svc');
  });

  it('Istio: NOTES.txt gives istio-agent the CA address as CA_ADDR', async () => {
    const res = await helmWithValues(
      ['install', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace, '--dry-run=client', '-o', 'json'],
      FEATURE_VALUES.istio,
    );
    expect(res.code, res.stderr).toBe(0);
    const notes = (JSON.parse(res.stdout) as { info: { notes: string } }).info.notes;
    const agent = loadAgentConfig(rendered.get('istio')!);
    expect(notes).toContain(`CA_ADDR: ${agent.server.addresses[0]}`);
  });

  it('ca.extraConfig reaches the CA, and meshid itself still refuses a key it does not know', async () => {
    const limits = { attestationPerIp: { rate: 5, burst: 10 } };
    expect(loadCaConfig(await renderChart({ ca: { extraConfig: { limits } } })).limits.attestationPerIp).toMatchObject({ ratePerSecond: 5, burst: 10 });
    const typo = await renderChart({ ca: { extraConfig: { limits: { attestationPerIP: { rate: 5 } } } } });
    expect(() => loadCaConfig(typo)).toThrow(/config limits.attestationPerIP: unknown setting/);
  });

  it('a config change rolls the CA pod (checksum annotation)', async () => {
    const checksum = (objects: K8sObject[]) => componentObject(objects, 'StatefulSet', 'ca').spec.template.metadata.annotations['checksum/config'];
    expect(checksum(await renderChart({ ca: { svid: { maxTtl: '12h' } } }))).not.toBe(checksum(defaults()));
  });
});

describe('the node agent configuration rendered by the chart', () => {
  it.each(Object.keys(ALL_VALUES))('%s: loads with the agent\'s own config reader (node-agent/config.ts), node name included', (name) => {
    const config = loadAgentConfig(rendered.get(name)!);
    expect(config.mode).toBe('k8s');
    expect(config.kubernetes.nodeName).toBe(NODE_NAME);
  });

  it('the node name comes from the downward API', () => {
    const agent = mainContainer(podSpec(componentObject(defaults(), 'DaemonSet', 'agent')));
    expect(agent.env).toContainEqual({ name: 'MESHID_AGENT_KUBERNETES__NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });

  it('the projected token is the file the agent reads, for an audience the CA accepts', () => {
    for (const [, objects] of sets()) {
      const spec = podSpec(componentObject(objects, 'DaemonSet', 'agent'));
      const config = loadAgentConfig(objects);
      const { volume, relative } = volumeOf(spec, mainContainer(spec), config.kubernetes.tokenFile);
      const token = volume.projected.sources.find((s: Fields) => s.serviceAccountToken?.path === relative).serviceAccountToken;
      expect(token.audience).toBe('meshid');
      expect(loadCaConfig(objects).kubernetes.audiences).toContain(token.audience);
      expect(token.expirationSeconds).toBeGreaterThanOrEqual(600);
    }
  });

  it('the trust bundle is the ConfigMap the CA publishes, mounted from the agent\'s namespace', () => {
    for (const [name, objects] of sets()) {
      const spec = podSpec(componentObject(objects, 'DaemonSet', 'agent'));
      const published = loadCaConfig(objects).kubernetes.bundleConfigMap;
      const { volume, relative } = volumeOf(spec, mainContainer(spec), loadAgentConfig(objects).server.trustBundleFile);
      expect(volume.configMap, name).toEqual({ name: published.name, items: [{ key: published.key, path: published.key }] });
      expect(relative).toBe(published.key);
      expect(published.enabled).toBe(true);
      if (published.namespaces.length > 0) expect(published.namespaces).toContain(RELEASE.namespace);
    }
    expect(loadCaConfig(defaults()).kubernetes.bundleConfigMap).toEqual({ enabled: true, name: 'istio-ca-root-cert', key: 'root-cert.pem', namespaces: [] });
  });

  it('the CA trusts exactly the chart\'s agent ServiceAccount as node agents', () => {
    for (const [, objects] of sets()) {
      const account = componentObject(objects, 'ServiceAccount', 'agent').metadata;
      expect(loadCaConfig(objects).kubernetes.trustedNodeAccounts).toEqual([`${account.namespace}/${account.name}`]);
    }
  });

  it('the agent runs `agent run --config <agent.yaml>` and serves its socket on the hostPath', () => {
    const objects = defaults();
    const spec = podSpec(componentObject(objects, 'DaemonSet', 'agent'));
    const agent = mainContainer(spec);
    const config = loadAgentConfig(objects);
    expect(agent.command).toBeUndefined();
    expect(agent.args).toEqual(['agent', 'run', '--config', expect.any(String)]);
    expect(volumeOf(spec, agent, agent.args[3])).toMatchObject({ volume: { configMap: { name: componentObject(objects, 'ConfigMap', 'agent').metadata.name } }, relative: 'agent.yaml' });
    expect(expectWritable(spec, agent, config.socketDir)).toEqual({ name: 'sockets', hostPath: { path: '/var/run/meshid', type: 'DirectoryOrCreate' } });
    expectWritable(spec, agent, path.dirname(config.authz.socket));
    expect(config.listen.ops).toEqual({ host: '0.0.0.0', port: agent.ports[0].containerPort });
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port: agent.ports[0].name });
  });

  it('runs on every node, as node-critical', () => {
    const spec = podSpec(componentObject(defaults(), 'DaemonSet', 'agent'));
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.priorityClassName).toBe('system-node-critical');
  });
});

describe('security of the rendered pods', () => {
  const workloads = (objects: K8sObject[]) => [componentObject(objects, 'StatefulSet', 'ca'), componentObject(objects, 'DaemonSet', 'agent')];

  it('every pod runs as 65532, non-root, with the runtime\'s seccomp profile, sharing nothing with the host but the socket dir', () => {
    for (const [, objects] of sets()) {
      for (const workload of workloads(objects)) {
        const spec = podSpec(workload);
        expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
        expect([spec.hostNetwork, spec.hostPID, spec.hostIPC]).toEqual([undefined, undefined, undefined]);
        const hostPaths = (spec.volumes as Fields[]).filter((v) => v.hostPath).map((v) => v.hostPath.path);
        expect(hostPaths).toEqual(workload.kind === 'DaemonSet' ? ['/var/run/meshid'] : []);
      }
    }
  });

  it('every meshid container: read-only root filesystem, no privilege escalation, every capability dropped', () => {
    for (const [, objects] of sets()) {
      for (const container of workloads(objects).flatMap((w) => allContainers(podSpec(w))).filter((c) => c.name !== 'socket-dir')) {
        expect(container.securityContext, container.name).toEqual({
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 65532,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
      }
    }
  });

  it('the one root container chowns the socket dir with CAP_CHOWN alone and sees nothing else', () => {
    const spec = podSpec(componentObject(defaults(), 'DaemonSet', 'agent'));
    const init = spec.initContainers.find((c: Container) => c.name === 'socket-dir');
    expect(init.securityContext).toMatchObject({ runAsUser: 0, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['CHOWN'] } });
    expect(init.volumeMounts).toEqual([{ name: 'sockets', mountPath: '/var/run/meshid' }]);
    expect(spec.initContainers).toHaveLength(1);
  });

  it('the agent has no API token, only its projected one; the CA keeps its token (it calls the API)', () => {
    for (const [, objects] of sets()) {
      expect(podSpec(componentObject(objects, 'DaemonSet', 'agent')).automountServiceAccountToken).toBe(false);
      expect(componentObject(objects, 'ServiceAccount', 'agent').automountServiceAccountToken).toBe(false);
      expect(podSpec(componentObject(objects, 'StatefulSet', 'ca')).automountServiceAccountToken).toBe(true);
    }
  });

  it('the CA\'s volume is chowned only when fresh, so kubelet never widens meshid\'s 0600 keys', () => {
    expect(podSpec(componentObject(defaults(), 'StatefulSet', 'ca')).securityContext).toMatchObject({ fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch' });
    const config = loadCaConfig(defaults());
    expect(config.dataDir).not.toBe('/var/lib/meshid'); // below the volume's root, whose mode kubelet checks
  });

  it('no pod gets service links (their variables would share the MESHID_ prefix)', () => {
    for (const workload of workloads(defaults())) expect(podSpec(workload).enableServiceLinks).toBe(false);
  });

  it('the image is ghcr.io/meshid/meshid at the chart\'s appVersion, which is the package version', async () => {
    const chart = parse(await readFile(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
    const images = workloads(defaults()).flatMap((w) => allContainers(podSpec(w)).map((c) => c.image));
    expect(new Set(images)).toEqual(new Set([`ghcr.io/meshid/meshid:${pkg.version}`]));
  });
});

describe('the chart\'s RBAC', () => {
  const rules = (objects: K8sObject[], kind = 'ClusterRole') =>
    objects.filter((o) => o.kind === kind).map((o) => ({ namespace: o.metadata.namespace, rules: o.rules }));

  it('default: TokenReview and the bundle ConfigMap in every namespace, nothing else', () => {
    expect(rules(defaults())).toEqual([
      {
        namespace: undefined,
        rules: [
          { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
          { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
          { apiGroups: [''], resources: ['configmaps'], resourceNames: ['istio-ca-root-cert'], verbs: ['list', 'watch', 'create', 'patch'] },
        ],
      },
    ]);
    expect(rules(defaults(), 'Role')).toEqual([]);
  });

  it('listed bundle namespaces: a Role in each (the release namespace included), nothing cluster-wide', () => {
    const objects = rendered.get('bundle in listed namespaces')!;
    const configMaps = [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['istio-ca-root-cert'], verbs: ['list', 'watch', 'create', 'patch'] }];
    expect(rules(objects, 'Role')).toEqual(['shop', 'payments', 'meshid-system'].map((namespace) => ({ namespace, rules: configMaps })));
    expect(rules(objects)[0]!.rules).toEqual([{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
  });

  it('cert-manager: create, get and delete of CertificateRequests in the issuer\'s namespace only', () => {
    const objects = rendered.get('cert-manager')!;
    expect(rules(objects, 'Role')).toEqual([
      { namespace: 'cert-manager', rules: [{ apiGroups: ['cert-manager.io'], resources: ['certificaterequests'], verbs: ['create', 'get', 'delete'] }] },
    ]);
    expect(JSON.stringify(rules(objects))).not.toContain('cert-manager.io');
  });

  it('policies.kubernetes: list and watch of AuthorizationPolicies', () => {
    expect(rules(rendered.get('istio')!)[0]!.rules).toContainEqual({ apiGroups: ['security.istio.io'], resources: ['authorizationpolicies'], verbs: ['list', 'watch'] });
    expect(JSON.stringify(rules(defaults()))).not.toContain('security.istio.io');
  });

  it('jwt mode: no TokenReview; anonymous issuer discovery only when asked for', () => {
    const discovery = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'ClusterRoleBinding' && o.roleRef.name === 'system:service-account-issuer-discovery');
    const withDiscovery = rendered.get('jwt mode with OIDC discovery')!;
    expect(JSON.stringify(rules(withDiscovery))).not.toContain('tokenreviews');
    expect(discovery(withDiscovery).map((b) => b.subjects)).toEqual([[{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }]]);
    expect(discovery(rendered.get('jwt mode with a JWKS ConfigMap')!)).toEqual([]);
    expect(discovery(defaults())).toEqual([]);
  });

  it('nothing is ever bound to the agent\'s ServiceAccount', () => {
    for (const [, objects] of sets()) {
      const agent = componentObject(objects, 'ServiceAccount', 'agent').metadata.name;
      const bindings = objects.filter((o) => o.kind.endsWith('Binding'));
      expect(bindings.flatMap((b) => b.subjects).filter((s: Fields) => s.name === agent)).toEqual([]);
    }
  });
});

describe('monitoring (monitoring.coreos.com/v1, rendered only)', () => {
  it('off by default', () => {
    expect(defaults().filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
  });

  it('the ServiceMonitor scrapes the CA Service\'s metrics port, the PodMonitor the agents\' pods', () => {
    const objects = rendered.get('monitoring')!;
    const service = componentObject(objects, 'Service', 'ca');
    const serviceMonitor = componentObject(objects, 'ServiceMonitor', 'ca');
    expect(serviceMonitor.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(service.spec.ports.map((p: Fields) => p.name)).toContain(serviceMonitor.spec.endpoints[0].port);
    const daemonSet = componentObject(objects, 'DaemonSet', 'agent');
    const podMonitor = componentObject(objects, 'PodMonitor', 'agent');
    expect(daemonSet.spec.template.metadata.labels).toMatchObject(podMonitor.spec.selector.matchLabels);
    expect(mainContainer(podSpec(daemonSet)).ports.map((p: Fields) => p.name)).toContain(podMonitor.spec.podMetricsEndpoints[0].port);
  });
});

describe('the init containers\' scripts, run with node', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshid-init-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const script = (objects: K8sObject[], workload: 'StatefulSet' | 'DaemonSet', name: string): string[] => {
    const component = workload === 'StatefulSet' ? 'ca' : 'agent';
    const init = podSpec(componentObject(objects, workload, component)).initContainers.find((c: Container) => c.name === name);
    expect(init.command.slice(0, 2)).toEqual(['node', '-e']);
    return init.command.slice(1, 3);
  };

  it('operator-ca copies a secret volume\'s files (not kubelet\'s ..data links) with mode 0600', async () => {
    const from = path.join(dir, 'secret');
    const to = path.join(dir, 'copy');
    await mkdir(path.join(from, '..2026_12_04'), { recursive: true });
    await writeFile(path.join(from, '..2026_12_04', 'ca-key.pem'), 'KEY', { mode: 0o440 });
    await symlink('..2026_12_04', path.join(from, '..data'));
    await symlink('..data/ca-key.pem', path.join(from, 'ca-key.pem'));
    await mkdir(to);
    await run(process.execPath, [...script(rendered.get('files')!, 'StatefulSet', 'operator-ca'), from, to]);
    expect(await readFile(path.join(to, 'ca-key.pem'), 'utf8')).toBe('KEY');
    expect((await stat(path.join(to, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect((await lstat(path.join(to, 'ca-key.pem'))).isFile()).toBe(true);
  });

  it('socket-dir refuses a symbolic link and hands a directory to 65532', async () => {
    const args = script(defaults(), 'DaemonSet', 'socket-dir');
    const link = path.join(dir, 'link');
    await symlink('/etc', link);
    await expect(run(process.execPath, [...args, link])).rejects.toThrow(/is not a directory/);
    const sockets = path.join(dir, 'sockets');
    await mkdir(sockets);
    const result = run(process.execPath, [...args, sockets]);
    if (process.getuid?.() === 0) {
      await result;
      expect((await stat(sockets)).uid).toBe(65532);
    } else {
      await expect(result).rejects.toThrow(/EPERM/); // only root (CAP_CHOWN) may give a directory away
    }
  });
});
