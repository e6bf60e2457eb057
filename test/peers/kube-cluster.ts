// A real Kubernetes control plane for a test suite: etcd and kube-apiserver (provisioned by
// scripts/provision-peers.sh) on loopback, with RBAC on, a service-account signing key, and a static admin
// token for the harness. There is no kubelet: pods are API objects with spec.nodeName set, which is all that
// pod-bound service-account tokens need.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { request as httpsRequest } from 'node:https';
import { freePort } from '../support/free-port.js';
import { requirePeer } from './peers.js';

export interface PodSpec {
  namespace: string;
  name: string;
  serviceAccount: string;
  nodeName: string;
}

export interface CreatedPod extends PodSpec {
  uid: string;
}

export interface TokenRequestOptions {
  audiences: string[];
  /** The API server's minimum is 600 s. Default 3600 s. */
  expirationSeconds?: number;
  /** Bind the token to this pod (as the kubelet's projected tokens are). */
  pod?: { name: string; uid: string };
}

/** A process whose last output is kept for error messages. */
interface Daemon {
  child: ChildProcess;
  output(): string;
}

const READY_TIMEOUT_MS = 90_000;

/** An API server answer as the tests read it: ad hoc field access on JSON of many kinds. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ApiJson = any;

function startDaemon(binary: string, args: string[]): Daemon {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => tail };
}

async function stopDaemon(daemon: Daemon | undefined): Promise<void> {
  if (!daemon || daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
  const exited = once(daemon.child, 'exit');
  daemon.child.kill('SIGTERM');
  const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `probe` until it resolves true. The processes offer no readiness event, only a health endpoint. */
async function waitUntil(what: string, daemon: Daemon, probe: () => Promise<boolean>): Promise<void> {
  // performance.now(): suites fake Date to step past token expiries while the API server restarts.
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (daemon.child.exitCode !== null) throw new Error(`${what} exited (${daemon.child.exitCode}):\n${daemon.output()}`);
    if (await probe().catch(() => false)) return;
    if (performance.now() > deadline) throw new Error(`${what} not ready after ${READY_TIMEOUT_MS} ms:\n${daemon.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Crd = { apiVersion: string; kind: string; metadata: { name: string } };

/** The CustomResourceDefinitions in a YAML file or a directory of them; `names` picks some by metadata.name. */
export async function readCrds(fileOrDir: string, names?: string[]): Promise<Crd[]> {
  const files = (await stat(fileOrDir)).isDirectory()
    ? (await readdir(fileOrDir)).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(fileOrDir, f))
    : [fileOrDir];
  const docs = await Promise.all(files.map(async (f) => YAML.parseAllDocuments(await readFile(f, 'utf8')).map((d) => d.toJS() as Crd | null)));
  const crds = docs.flat().filter((d): d is Crd => d?.kind === 'CustomResourceDefinition');
  return names ? crds.filter((crd) => names.includes(crd.metadata.name)) : crds;
}

interface SigningKey {
  keyFile: string;
  pubFile: string;
}

export class KubeCluster {
  /** https://127.0.0.1:PORT; also the service-account issuer, so OIDC discovery works against it. */
  readonly url: string;
  readonly issuer: string;
  /** PEM the API server's self-signed serving certificate; trust it to call the API server. */
  caPem = '';
  readonly caFile: string;
  /** Bearer token of a system:masters user (the static token file). */
  readonly adminToken = randomBytes(24).toString('base64url');
  private etcd: Daemon | undefined;
  private apiserver: Daemon | undefined;
  private readonly signingKeys: SigningKey[] = [];
  private verifyKeys: SigningKey[] = [];

  private constructor(
    readonly dir: string,
    private readonly etcdPorts: { client: number; peer: number },
    private readonly securePort: number,
  ) {
    this.url = `https://127.0.0.1:${securePort}`;
    this.issuer = this.url;
    this.caFile = path.join(dir, 'certs', 'apiserver.crt');
  }

  static async start(): Promise<KubeCluster> {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshid-kube-'));
    const cluster = new KubeCluster(dir, { client: await freePort(), peer: await freePort() }, await freePort());
    try {
      await cluster.startEtcd();
      await writeFile(path.join(dir, 'tokens.csv'), `${cluster.adminToken},meshid-test-admin,admin-uid,"system:masters"\n`, {
        mode: 0o600,
      });
      const key = await cluster.newSigningKey();
      cluster.verifyKeys = [key];
      await cluster.startApiserver(key);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async startEtcd(): Promise<void> {
    const { client, peer } = this.etcdPorts;
    this.etcd = startDaemon(requirePeer('etcd'), [
      '--data-dir', path.join(this.dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${client}`,
      '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`,
      '--log-level', 'warn',
    ]);
    await waitUntil('etcd', this.etcd, async () => {
      const res = await fetch(`http://127.0.0.1:${client}/health`);
      return res.ok;
    });
  }

  private async newSigningKey(): Promise<SigningKey> {
    const n = this.signingKeys.length + 1;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = { keyFile: path.join(this.dir, `sa-${n}.key`), pubFile: path.join(this.dir, `sa-${n}.pub`) };
    await writeFile(key.keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await writeFile(key.pubFile, publicKey.export({ format: 'pem', type: 'spki' }));
    this.signingKeys.push(key);
    return key;
  }

  private async startApiserver(signing: SigningKey): Promise<void> {
    await mkdir(path.join(this.dir, 'certs'), { recursive: true });
    this.apiserver = startDaemon(requirePeer('kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${this.etcdPorts.client}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.securePort}`,
      `--cert-dir=${path.join(this.dir, 'certs')}`,
      `--token-auth-file=${path.join(this.dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${this.issuer}`,
      ...this.verifyKeys.map((k) => `--service-account-key-file=${k.pubFile}`),
      `--service-account-signing-key-file=${signing.keyFile}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      '--endpoint-reconciler-type=none',
      // One etcd, one apiserver: no need for the storage version and peer proxy machinery's extra load.
      '--enable-priority-and-fairness=false',
      '--v=0',
    ]);
    await waitUntil('kube-apiserver', this.apiserver, async () => {
      this.caPem ||= await readFile(this.caFile, 'utf8');
      const res = await this.request('GET', '/readyz');
      return res.status === 200;
    });
  }

  /**
   * Rotates the service-account signing key the way an operator does: the API server restarts signing with a
   * new key while still accepting (and publishing in its JWKS) the previous ones. With `dropPrevious`, only the
   * new key remains trusted.
   */
  async rotateSigningKey(options: { dropPrevious?: boolean } = {}): Promise<void> {
    const key = await this.newSigningKey();
    this.verifyKeys = options.dropPrevious ? [key] : [...this.verifyKeys, key];
    await stopDaemon(this.apiserver);
    await this.startApiserver(key);
  }

  async stop(): Promise<void> {
    await stopDaemon(this.apiserver);
    await stopDaemon(this.etcd);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** A client-node KubeConfig for a bearer token (default: the admin). */
  kubeConfig(token = this.adminToken): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: this.url, caData: Buffer.from(this.caPem).toString('base64') }],
      users: [{ name: 'user', token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'user' }],
      currentContext: 'test',
    });
    return kc;
  }

  /** Writes a kubeconfig file for a bearer token (default: the admin) and returns its path. */
  async writeKubeconfig(file: string, token = this.adminToken): Promise<string> {
    await writeFile(file, this.kubeConfig(token).exportConfig(), { mode: 0o600 });
    return file;
  }

  /** One API call as `token` (default: the admin); the body is JSON, or YAML/patch text as given. */
  async request(
    method: string,
    apiPath: string,
    body?: unknown,
    options: { token?: string; contentType?: string } = {},
  ): Promise<{ status: number; body: ApiJson }> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${this.url}${apiPath}`,
        {
          method,
          ca: this.caPem,
          headers: {
            authorization: `Bearer ${options.token ?? this.adminToken}`,
            accept: 'application/json, */*;q=0.5',
            ...(payload !== undefined ? { 'content-type': options.contentType ?? 'application/json' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // plain-text answers (/readyz, /healthz)
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Like request(), but throws with the API server's message unless the status is 2xx. */
  async call(method: string, apiPath: string, body?: unknown, options: { token?: string; contentType?: string } = {}) {
    const res = await this.request(method, apiPath, body, options);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${apiPath}: HTTP ${res.status} ${typeof res.body === 'string' ? res.body : res.body?.message}`);
    }
    return res.body;
  }

  /** Creates a namespace if it does not exist yet. */
  async ensureNamespace(name: string): Promise<void> {
    const res = await this.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    if (res.status !== 201 && res.status !== 409) throw new Error(`create namespace ${name}: HTTP ${res.status} ${res.body?.message}`);
  }

  async createServiceAccount(namespace: string, name: string): Promise<{ uid: string }> {
    await this.ensureNamespace(namespace);
    const res = await this.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    });
    if (res.status === 409) return { uid: (await this.call('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`)).metadata.uid };
    if (res.status !== 201) throw new Error(`create serviceaccount ${namespace}/${name}: HTTP ${res.status} ${res.body?.message}`);
    return { uid: res.body.metadata.uid };
  }

  async deleteServiceAccount(namespace: string, name: string): Promise<void> {
    await this.call('DELETE', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`);
  }

  /** A Node object (no kubelet behind it); pod-bound tokens carry its name and uid. */
  async createNode(name: string): Promise<{ uid: string }> {
    const res = await this.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    if (res.status === 409) return { uid: (await this.call('GET', `/api/v1/nodes/${name}`)).metadata.uid };
    if (res.status !== 201) throw new Error(`create node ${name}: HTTP ${res.status} ${res.body?.message}`);
    return { uid: res.body.metadata.uid };
  }

  /** A pod scheduled to `nodeName` (its service account and node are created when missing). */
  async createPod(spec: PodSpec): Promise<CreatedPod> {
    await this.createServiceAccount(spec.namespace, spec.serviceAccount);
    await this.createNode(spec.nodeName);
    const pod = await this.call('POST', `/api/v1/namespaces/${spec.namespace}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: spec.name },
      spec: {
        serviceAccountName: spec.serviceAccount,
        nodeName: spec.nodeName,
        automountServiceAccountToken: false,
        containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
      },
    });
    return { ...spec, uid: pod.metadata.uid };
  }

  /** Deletes a pod at once (no kubelet is there to finish a graceful deletion). */
  async deletePod(namespace: string, name: string): Promise<void> {
    await this.call('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
  }

  /** TokenRequest for a service account, as the kubelet asks for a projected token. */
  async requestToken(namespace: string, serviceAccount: string, options: TokenRequestOptions): Promise<string> {
    const res = await this.call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: options.audiences,
        expirationSeconds: options.expirationSeconds ?? 3600,
        ...(options.pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: options.pod.name, uid: options.pod.uid } } : {}),
      },
    });
    return res.status.token as string;
  }

  /** The projected token of a pod (bound to it) for `audiences`. */
  podToken(pod: CreatedPod, audiences: string[], expirationSeconds?: number): Promise<string> {
    return this.requestToken(pod.namespace, pod.serviceAccount, { audiences, expirationSeconds, pod });
  }

  /** Applies YAML or JSON objects with server-side apply (field manager `meshid-test`). */
  async apply(object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<ApiJson> {
    const base = await this.resourcePath(object.apiVersion, object.kind, object.metadata.namespace);
    return this.call('PATCH', `${base}/${object.metadata.name}?fieldManager=meshid-test&force=true`, object, {
      contentType: 'application/apply-patch+yaml',
    });
  }

  /** The collection path of a kind (namespaced or not), found through API discovery. */
  async resourcePath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await this.call('GET', prefix);
    const resource = (list.resources as Array<{ name: string; kind: string; namespaced: boolean }>).find(
      (r) => r.kind === kind && !r.name.includes('/'),
    );
    if (!resource) throw new Error(`the API server has no ${kind} in ${apiVersion}`);
    return resource.namespaced ? `${prefix}/namespaces/${namespace ?? 'default'}/${resource.name}` : `${prefix}/${resource.name}`;
  }

  /** Installs CustomResourceDefinitions and waits until the API server serves them. */
  async installCrds(crds: Crd[]): Promise<void> {
    for (const crd of crds) await this.apply(crd);
    for (const crd of crds) {
      await waitUntil(`CRD ${crd.metadata.name}`, this.apiserver!, async () => {
        const got = await this.call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
        return (got.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True');
      });
    }
  }

  /** SubjectAccessReview: may `user` (with `groups`) do `verb` on `resource`? */
  async can(
    user: { username: string; groups?: string[] },
    attributes: { verb: string; group?: string; resource: string; namespace?: string; name?: string; subresource?: string },
  ): Promise<boolean> {
    const review = await this.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: user.username, groups: user.groups ?? [], resourceAttributes: { group: '', ...attributes } },
    });
    return review.status.allowed === true;
  }
}
