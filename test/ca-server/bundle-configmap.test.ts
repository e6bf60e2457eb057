// Trust bundle publication (kubernetes.bundleConfigMap) by a real CA into a real kube-apiserver (etcd +
// kube-apiserver from scripts/provision-peers.sh; a missing binary fails the suite): the ConfigMap in every
// namespace or only the configured ones, kept current through a root rotation, restored after an edit or a
// deletion, and published once the API server is reachable again. Every wait is a bounded poll of the API.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUNDLE_CONFIGMAP_DEFAULTS } from '../../ca-server/bundle-publication/config.js';
import { loadCaServerConfig, readCaServerConfig } from '../../ca-server/config.js';
import { ConfigError } from '../../core/config-values.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import { KubeCluster } from '../peers/kube-cluster.js';
import { freePort } from '../support/free-port.js';
import { rotate } from '../rotation/support.js';
import { CaFixture, pemToDer, rpc, splitPem } from './fixture.js';

const MANAGED_BY = 'app.kubernetes.io/managed-by';
/** Long enough for a retry at the 30 s backoff cap after an outage. */
const WAIT = { timeout: 60_000, interval: 100 };

interface ConfigMap {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

let cluster: KubeCluster;
let dir: string;

beforeAll(async () => {
  cluster = await KubeCluster.start();
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-bundle-cm-'));
});
afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The ConfigMap, or undefined when there is none. */
async function configMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
  const res = await cluster.request('GET', `/api/v1/namespaces/${namespace}/configmaps/${name}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET configmap ${namespace}/${name}: HTTP ${res.status}`);
  return res.body as ConfigMap;
}

/** Namespaces holding a ConfigMap named `name`. */
async function namespacesWith(name: string): Promise<string[]> {
  const list = await cluster.call('GET', `/api/v1/configmaps?fieldSelector=metadata.name%3D${name}`);
  return (list.items as ConfigMap[]).map((c) => c.metadata.namespace).sort();
}

async function activeNamespaces(): Promise<string[]> {
  const list = await cluster.call('GET', '/api/v1/namespaces');
  return (list.items as { metadata: { name: string }; status: { phase: string } }[])
    .filter((n) => n.status.phase === 'Active')
    .map((n) => n.metadata.name)
    .sort();
}

/** Waits until the ConfigMap in each of `namespaces` holds exactly `pem` under `key`, labelled as meshid's. */
async function published(namespaces: string[], options: { name: string; key: string; pem: string }): Promise<void> {
  await vi.waitFor(async () => {
    for (const namespace of namespaces) {
      const found = await configMap(namespace, options.name);
      expect({ namespace, pem: found?.data?.[options.key], managedBy: found?.metadata.labels?.[MANAGED_BY] }).toEqual({
        namespace,
        pem: options.pem,
        managedBy: 'meshid',
      });
    }
  }, WAIT);
}

/** The CA's X.509 roots, in bundle order. */
const rootsOf = (ca: CaFixture) => ca.server.bundle().x509Authorities.map((der) => Buffer.from(der));
const rootsInPem = (pem: string | undefined) => splitPem(pem ?? '').map(pemToDer);

/** One sample from the CA's /metrics (0 when absent). */
async function metric(ca: CaFixture, series: string): Promise<number> {
  const text = await (await fetch(`${ca.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function writeAdminKubeconfig(name: string, server?: string): Promise<string> {
  const file = await cluster.writeKubeconfig(path.join(dir, name));
  if (server) await writeFile(file, (await readFile(file, 'utf8')).replace(cluster.url, server), { mode: 0o600 });
  return file;
}

/**
 * A TCP relay between the CA and the API server. cut() is a network outage as the CA sees it: open
 * connections reset, new ones refused; restore() listens again on the same port.
 */
class ApiServerLink {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  static async open(target: number): Promise<ApiServerLink> {
    const link = new ApiServerLink(await freePort(), target);
    await link.restore();
    return link;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async restore(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise((resolve) => server?.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe('bundle ConfigMap in every namespace', () => {
  const { name, key } = BUNDLE_CONFIGMAP_DEFAULTS;
  let ca: CaFixture;
  let admin: AdminServiceClient;
  let link: ApiServerLink;
  const publishedEverywhere = async () => published(await activeNamespaces(), { name, key, pem: ca.bundlePem() });

  beforeAll(async () => {
    await cluster.ensureNamespace('alpha');
    await cluster.ensureNamespace('beta');
    link = await ApiServerLink.open(Number(new URL(cluster.url).port));
    ca = await CaFixture.start({
      kubernetes: 'disabled',
      config: {
        // Admin credentials, through the relay; attestation stays off (publication does not need it).
        kubernetes: { mode: 'disabled', kubeconfig: await writeAdminKubeconfig('linked.kubeconfig', link.url), bundleConfigMap: { enabled: true } },
      },
    });
    admin = ca.adminClient();
  });
  afterAll(async () => {
    admin?.close();
    await ca?.close();
    await link?.cut();
  });

  it('writes the CA roots into every namespace, and into one created afterwards', async () => {
    const existing = await activeNamespaces();
    expect(existing).toEqual(expect.arrayContaining(['alpha', 'beta', 'default', 'kube-system']));
    await publishedEverywhere();
    const found = (await configMap('alpha', name))!;
    expect(rootsInPem(found.data?.[key])).toEqual(rootsOf(ca));
    expect(Object.keys(found.data ?? {})).toEqual([key]);

    await cluster.ensureNamespace('created-later');
    await published(['created-later'], { name, key, pem: ca.bundlePem() });
    expect(await namespacesWith(name)).toEqual(await activeNamespaces());
    expect(await metric(ca, 'meshid_ca_bundle_configmap_namespaces')).toBe(existing.length + 1);
    expect(await metric(ca, 'meshid_ca_bundle_configmap_stale_namespaces')).toBe(0);
    expect(await metric(ca, 'meshid_ca_bundle_configmap_last_write_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  }, 90_000);

  it('leaves a namespace being deleted alone', async () => {
    await cluster.ensureNamespace('doomed');
    await published(['doomed'], { name, key, pem: ca.bundlePem() });
    const namespaces = await metric(ca, 'meshid_ca_bundle_configmap_namespaces');
    const failed = await metric(ca, 'meshid_ca_bundle_configmap_writes_total{result="failed"}');

    // Without a namespace controller (no kube-controller-manager) the namespace stays Terminating.
    await cluster.call('DELETE', '/api/v1/namespaces/doomed');
    expect((await cluster.call('GET', '/api/v1/namespaces/doomed')).status.phase).toBe('Terminating');
    await vi.waitFor(async () => expect(await metric(ca, 'meshid_ca_bundle_configmap_namespaces')).toBe(namespaces - 1), WAIT);
    await cluster.call('DELETE', `/api/v1/namespaces/doomed/configmaps/${name}`);
    // The deletion in alpha comes after doomed's on the same watch: once alpha's is restored, doomed's was seen and ignored.
    await cluster.call('DELETE', `/api/v1/namespaces/alpha/configmaps/${name}`);
    await published(['alpha'], { name, key, pem: ca.bundlePem() });
    expect(await configMap('doomed', name)).toBeUndefined();
    expect(await metric(ca, 'meshid_ca_bundle_configmap_writes_total{result="failed"}')).toBe(failed);
  }, 90_000);

  it('follows a root rotation: old and new root while it runs, only the new one once the old is retired', async () => {
    const [oldRoot] = rootsOf(ca);
    await rotate.prepare(admin);
    expect(rootsOf(ca)).toHaveLength(2);
    await publishedEverywhere();
    expect(rootsInPem((await configMap('beta', name))?.data?.[key])).toEqual(rootsOf(ca));

    await rotate.activate(admin);
    await publishedEverywhere();
    await rotate.retire(admin, true);
    const [newRoot, ...others] = rootsOf(ca);
    expect(others).toEqual([]);
    expect(newRoot).not.toEqual(oldRoot);
    await publishedEverywhere();
    expect(rootsInPem((await configMap('created-later', name))?.data?.[key])).toEqual([newRoot]);
    expect(new X509Certificate(newRoot!).subject).toContain('OU=rotated');
  }, 90_000);

  it('restores a hand-edited ConfigMap, keeping what others added, and a deleted one', async () => {
    await cluster.call(
      'PATCH',
      `/api/v1/namespaces/beta/configmaps/${name}`,
      {
        metadata: { labels: { team: 'payments', [MANAGED_BY]: 'someone-else' }, annotations: { note: 'hand edit' } },
        data: { [key]: 'tampered', 'extra.pem': 'kept' },
      },
      { contentType: 'application/merge-patch+json' },
    );
    await published(['beta'], { name, key, pem: ca.bundlePem() });
    const restored = (await configMap('beta', name))!;
    expect(restored.data?.['extra.pem']).toBe('kept');
    expect(restored.metadata.labels?.team).toBe('payments');
    expect(restored.metadata.annotations?.note).toBe('hand edit');

    await cluster.call('DELETE', `/api/v1/namespaces/beta/configmaps/${name}`);
    await published(['beta'], { name, key, pem: ca.bundlePem() });
    expect(ca.logs.text()).toContain('trust bundle ConfigMap restored');
  }, 90_000);

  it('keeps serving while the API server is unreachable, and publishes once it is back', async () => {
    const failed = await metric(ca, 'meshid_ca_bundle_configmap_writes_total{result="failed"}');
    await link.cut();
    await rotate.prepare(admin); // a bundle change the ConfigMaps cannot get yet
    await vi.waitFor(async () => expect(await metric(ca, 'meshid_ca_bundle_configmap_writes_total{result="failed"}')).toBeGreaterThan(failed), WAIT);
    expect(await metric(ca, 'meshid_ca_bundle_configmap_stale_namespaces')).toBeGreaterThan(0);
    expect((await fetch(`${ca.metricsUrl}/readyz`)).status).toBe(200);
    const served = await rpc(admin, admin.GetBundle, { format: 'pem' });
    expect(served.content).toBe(ca.bundlePem());
    expect(rootsInPem((await configMap('alpha', name))?.data?.[key])).toHaveLength(1);

    await link.restore();
    await publishedEverywhere();
    expect(await metric(ca, 'meshid_ca_bundle_configmap_stale_namespaces')).toBe(0);
    expect(ca.logs.text()).toContain('writing the trust bundle ConfigMap failed; will retry');
    expect(ca.logs.text()).toContain('trust bundle publication: watch interrupted; will retry');
  }, 120_000);

  it('watches again after the API server restarts', async () => {
    await cluster.rotateSigningKey(); // stops and starts kube-apiserver on the same port and etcd
    await cluster.call('DELETE', `/api/v1/namespaces/alpha/configmaps/${name}`);
    await published(['alpha'], { name, key, pem: ca.bundlePem() });
    expect(ca.logs.text()).not.toContain(cluster.adminToken);
  }, 120_000);
});

describe('bundle ConfigMap in the configured namespaces only', () => {
  const name = 'meshid-roots';
  const key = 'ca.crt';
  let ca: CaFixture;

  beforeAll(async () => {
    await cluster.ensureNamespace('team-a');
    await cluster.ensureNamespace('team-b');
    ca = await CaFixture.start({
      kubernetes: 'disabled',
      config: {
        kubernetes: {
          mode: 'disabled',
          kubeconfig: await writeAdminKubeconfig('admin.kubeconfig'),
          bundleConfigMap: { enabled: true, name, key, namespaces: ['team-a'] },
        },
      },
    });
  });
  afterAll(async () => {
    await ca?.close();
  });

  it('writes into the listed namespace and nowhere else, new namespaces included', async () => {
    await published(['team-a'], { name, key, pem: ca.bundlePem() });
    expect(rootsInPem((await configMap('team-a', name))?.data?.[key])).toEqual(rootsOf(ca));
    expect(await namespacesWith(name)).toEqual(['team-a']);

    await cluster.ensureNamespace('team-c');
    // A restored deletion in team-a shows the CA is working; by then team-c would have had its copy.
    await cluster.call('DELETE', `/api/v1/namespaces/team-a/configmaps/${name}`);
    await published(['team-a'], { name, key, pem: ca.bundlePem() });
    expect(await namespacesWith(name)).toEqual(['team-a']);
    expect(await metric(ca, 'meshid_ca_bundle_configmap_namespaces')).toBe(1);
  }, 90_000);
});

describe('kubernetes.bundleConfigMap settings', () => {
  const read = (bundleConfigMap: unknown) => readCaServerConfig({ kubernetes: { bundleConfigMap } }).kubernetes.bundleConfigMap;
  const refusal = (bundleConfigMap: unknown) => {
    try {
      read(bundleConfigMap);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return { key: (err as ConfigError).key, message: (err as ConfigError).message };
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to off, istio-ca-root-cert / root-cert.pem, every namespace; reads env and flags', () => {
    expect(readCaServerConfig({}).kubernetes.bundleConfigMap).toEqual({ enabled: false, name: 'istio-ca-root-cert', key: 'root-cert.pem', namespaces: [] });
    const config = loadCaServerConfig({
      env: { MESHID_KUBERNETES__BUNDLE_CONFIG_MAP__ENABLED: 'true', MESHID_KUBERNETES__BUNDLE_CONFIG_MAP__NAMESPACES: 'shop, payments' },
      flags: { 'kubernetes.bundleConfigMap.key': 'ca.crt' },
    });
    expect(config.kubernetes.bundleConfigMap).toEqual({ enabled: true, name: 'istio-ca-root-cert', key: 'ca.crt', namespaces: ['shop', 'payments'] });
  });

  it.each([
    [{ enable: true }, 'kubernetes.bundleConfigMap.enable', /unknown setting \(known: enabled, name, key, namespaces\)/],
    [{ enabled: 'yes' }, 'kubernetes.bundleConfigMap.enabled', /expected true or false, got "yes"/],
    [{ name: 'Root_Cert' }, 'kubernetes.bundleConfigMap.name', /expected a ConfigMap name .* got "Root_Cert"/],
    [{ name: 'a'.repeat(254) }, 'kubernetes.bundleConfigMap.name', /expected a ConfigMap name/],
    [{ key: 'root cert.pem' }, 'kubernetes.bundleConfigMap.key', /expected a ConfigMap key .* got "root cert.pem"/],
    [{ key: '..data' }, 'kubernetes.bundleConfigMap.key', /not "\." or starting with "\.\."/],
    [{ namespaces: ['shop', 'Shop'] }, 'kubernetes.bundleConfigMap.namespaces[1]', /expected a namespace name .* got "Shop"/],
    [{ namespaces: ['a.b'] }, 'kubernetes.bundleConfigMap.namespaces[0]', /lower-case DNS label/],
    [{ namespaces: ['n'.repeat(64)] }, 'kubernetes.bundleConfigMap.namespaces[0]', /at most 63 characters/],
    [{ namespaces: ['shop', 'shop'] }, 'kubernetes.bundleConfigMap.namespaces[1]', /"shop" is listed twice/],
    ['on', 'kubernetes.bundleConfigMap', /expected a mapping/],
  ])('refuses %j, naming the key', (value, key, message) => {
    const err = refusal(value);
    expect(err.key).toBe(key);
    expect(err.message).toMatch(new RegExp(`^config ${key.replace(/[.[\]]/g, '\\$&')}: `));
    expect(err.message).toMatch(message);
  });

  it('accepts names and keys the API server accepts', () => {
    expect(read({ name: 'meshid.roots-1', key: 'ca_bundle.PEM', namespaces: ['a', 'team-1'] })).toEqual({
      enabled: false,
      name: 'meshid.roots-1',
      key: 'ca_bundle.PEM',
      namespaces: ['a', 'team-1'],
    });
  });
});
