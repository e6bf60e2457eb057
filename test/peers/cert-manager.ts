// The real cert-manager controller (test/interop/cert-manager, provisioned by scripts/provision-peers.sh)
// against a KubeCluster: its CRDs from the pinned module, the process with a kubeconfig, and helpers for what
// an operator does with it: a selfSigned ClusterIssuer, CA Certificates and CA ClusterIssuers on top, and a
// rotation of such a CA. There is no webhook, so nothing defaults or validates the objects: they are written
// complete, as the webhook would leave them.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Watch } from '@kubernetes/client-node';
import { createCsrPem } from '../../core/x509/csr-request.js';
import { freePort } from '../support/free-port.js';
import { readCrds, type KubeCluster } from './kube-cluster.js';
import { requirePeer } from './peers.js';

const INTEROP_DIR = fileURLToPath(new URL('../interop/cert-manager/', import.meta.url));
const MODULE = 'github.com/cert-manager/cert-manager';
const API = '/apis/cert-manager.io/v1';
/** The controller's reconcile loops react within milliseconds; issuing a CA takes a few of them. */
const WAIT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface CertificateRequest {
  metadata: { name: string; namespace: string; generateName?: string; labels?: Record<string, string>; resourceVersion: string };
  spec: { request: string; isCA?: boolean; usages?: string[]; duration?: string; issuerRef: { name: string; kind?: string; group?: string } };
  status?: { conditions?: Condition[]; certificate?: string; ca?: string };
}

export interface Resource {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  status?: { conditions?: Condition[]; revision?: number };
}

/** A CA as cert-manager holds it: the Secret of its Certificate, and the CA ClusterIssuer that signs with it. */
export interface CaIssuer {
  /** ClusterIssuer and Certificate name. */
  name: string;
  secretName: string;
  /** tls.crt: the CA's certificate (PEM), the one that signs. */
  certificatePem: string;
  /** ca.crt: the root it chains to (PEM); the CA itself when it is self-signed. */
  rootPem: string;
}

export interface CaOptions {
  commonName: string;
  /** The CA ClusterIssuer that signs this CA (an intermediate); default the selfSigned ClusterIssuer (a root). */
  signedBy?: string;
  /** Default 8760h: longer than any signing CA meshid asks for in the tests. */
  duration?: string;
}

export interface CertManagerOptions {
  /** --controllers; default every controller linked in ('*'). */
  controllers?: string[];
  /** Where ClusterIssuers' Secrets live (--cluster-resource-namespace); default cert-manager. */
  clusterResourceNamespace?: string;
}

/** The directory of the pinned cert-manager module (the provision script downloaded it), read from go.mod. */
async function moduleDir(): Promise<string> {
  const goMod = await readFile(path.join(INTEROP_DIR, 'go.mod'), 'utf8');
  const version = new RegExp(`^\\s*${MODULE.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(goMod)?.[1];
  if (!version) throw new Error(`${INTEROP_DIR}go.mod does not require ${MODULE}`);
  try {
    // GOPROXY=off: from the module cache only; a test never downloads.
    const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', `${MODULE}@${version}`], {
      cwd: INTEROP_DIR,
      env: { ...process.env, GOPROXY: 'off' },
    });
    return (JSON.parse(stdout) as { Dir: string }).Dir;
  } catch (err) {
    throw new Error(`cert-manager ${version} is not in the Go module cache (${(err as Error).message.trim()}); run \`bash scripts/provision-peers.sh\``);
  }
}

/** cert-manager's CustomResourceDefinitions (deploy/crds), as the pinned release ships them. */
export async function certManagerCrds(): ReturnType<typeof readCrds> {
  return readCrds(path.join(await moduleDir(), 'deploy', 'crds'));
}

const hasCondition = (r: { status?: { conditions?: Condition[] } } | undefined, type: string, status = 'True') =>
  (r?.status?.conditions ?? []).some((c) => c.type === type && c.status === status);

const describeConditions = (r: { status?: { conditions?: Condition[] } } | undefined) =>
  JSON.stringify(r?.status?.conditions ?? []);

export class CertManager {
  private selfSignedReady = false;

  private constructor(
    readonly cluster: KubeCluster,
    readonly clusterResourceNamespace: string,
    readonly metricsUrl: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly tail: { text: string },
  ) {}

  /** Installs the CRDs (idempotent) and starts the controller; resolves once it serves /metrics. */
  static async start(cluster: KubeCluster, options: CertManagerOptions = {}): Promise<CertManager> {
    const namespace = options.clusterResourceNamespace ?? 'cert-manager';
    await cluster.installCrds(await certManagerCrds());
    await cluster.ensureNamespace(namespace);
    const dir = await mkdtemp(path.join(tmpdir(), 'meshid-cert-manager-'));
    const metrics = `127.0.0.1:${await freePort()}`;
    const child = spawn(
      requirePeer('cert-manager-controller'),
      [
        `--kubeconfig=${await cluster.writeKubeconfig(path.join(dir, 'kubeconfig'))}`,
        '--leader-elect=false',
        `--cluster-resource-namespace=${namespace}`,
        `--metrics-listen-address=${metrics}`,
        `--controllers=${(options.controllers ?? ['*']).join(',')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const tail = { text: '' };
    const keep = (chunk: Buffer) => (tail.text = (tail.text + chunk.toString()).slice(-12_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const manager = new CertManager(cluster, namespace, `http://${metrics}/metrics`, child, dir, tail);
    try {
      await manager.until('the controller to serve /metrics', () => fetch(manager.metricsUrl).then((r) => r.ok), (ok) => ok);
    } catch (err) {
      await manager.stop();
      throw err;
    }
    return manager;
  }

  /** The controller's recent output, for error messages. */
  output(): string {
    return this.tail.text;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * A CA the way operators bootstrap one without an external PKI: a Certificate with isCA (signed by the
   * selfSigned ClusterIssuer, or by another CA ClusterIssuer for an intermediate), its Secret in the cluster
   * resource namespace, and a CA ClusterIssuer named like it that signs with that Secret. Resolves once both
   * are Ready.
   */
  async createCaIssuer(name: string, options: CaOptions): Promise<CaIssuer> {
    const issuer = options.signedBy ?? (await this.selfSignedIssuer());
    const secretName = `${name}-ca`;
    await this.apply('Certificate', { name, namespace: this.clusterResourceNamespace }, {
      isCA: true,
      commonName: options.commonName,
      secretName,
      duration: options.duration ?? '8760h',
      // A new key at every issuance: a re-issued CA is a new CA, not the old key with a new date.
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      issuerRef: { name: issuer, kind: 'ClusterIssuer', group: 'cert-manager.io' },
    });
    await this.until(`Certificate ${name} to be Ready`, () => this.certificate(name), (c) => hasCondition(c, 'Ready'), describeConditions);
    await this.createClusterIssuer(name, { ca: { secretName } });
    return this.caIssuer(name);
  }

  /**
   * Rotates a CA made by createCaIssuer as `cmctl renew` does: the Certificate's status gets Issuing=True
   * (ManuallyTriggered), cert-manager issues it again with a new key (rotationPolicy Always) and replaces the
   * Secret the CA ClusterIssuer reads. For a root that is a new root. Resolves with the new CA once the
   * ClusterIssuer signs with it.
   */
  async rotateCa(name: string): Promise<CaIssuer> {
    const before = await this.caIssuer(name);
    const certificate = await this.certificate(name);
    const revision = certificate.status?.revision ?? 0;
    const conditions = (certificate.status?.conditions ?? []).filter((c) => c.type !== 'Issuing');
    conditions.push({
      type: 'Issuing',
      status: 'True',
      reason: 'ManuallyTriggered',
      message: 'Certificate re-issuance manually triggered',
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      observedGeneration: certificate.metadata.generation,
    });
    await this.cluster.call('PUT', `${this.certificatePath(name)}/status`, { ...certificate, status: { ...certificate.status, conditions } });
    await this.until(
      `Certificate ${name} to be re-issued (revision ${revision + 1})`,
      () => this.certificate(name),
      (c) => (c.status?.revision ?? 0) > revision && !hasCondition(c, 'Issuing') && hasCondition(c, 'Ready'),
      describeConditions,
    );
    const after = await this.caIssuer(name);
    if (after.certificatePem === before.certificatePem) throw new Error(`re-issuing Certificate ${name} left its Secret as it was`);
    // The CA signer reads the Secret from its informer cache: wait until it signs under the new CA.
    await this.until(`ClusterIssuer ${name} to sign with the re-issued CA`, () => this.probe(name), (ca) => ca === after.rootPem);
    return after;
  }

  /** A ClusterIssuer (any spec) that must become Ready. */
  async createClusterIssuer(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.apply('ClusterIssuer', { name }, spec);
    await this.until(`ClusterIssuer ${name} to be Ready`, () => this.clusterIssuer(name), (i) => hasCondition(i, 'Ready'), describeConditions);
  }

  /** A ClusterIssuer as stored (with its status), or undefined once deleted. */
  async clusterIssuer(name: string): Promise<Resource | undefined> {
    const res = await this.cluster.request('GET', `${API}/clusterissuers/${name}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ClusterIssuer ${name}: HTTP ${res.status}`);
    return res.body as Resource;
  }

  /** The CA a createCaIssuer ClusterIssuer signs with, from its Secret. */
  async caIssuer(name: string): Promise<CaIssuer> {
    const secretName = `${name}-ca`;
    const secret = (await this.cluster.call('GET', `/api/v1/namespaces/${this.clusterResourceNamespace}/secrets/${secretName}`)) as {
      data: Record<string, string>;
    };
    const text = (key: string) => Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
    return { name, secretName, certificatePem: text('tls.crt'), rootPem: text('ca.crt') };
  }

  /** Watches the CertificateRequests of a namespace from now on. */
  watchRequests(namespace: string): Promise<RequestWatch> {
    return RequestWatch.open(this.cluster, namespace);
  }

  /** Sets Denied=True on a CertificateRequest through /status, as an approver (e.g. approver-policy) does. */
  async deny(request: { namespace: string; name: string }, reason: string, message: string): Promise<void> {
    const condition: Condition = { type: 'Denied', status: 'True', reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    await this.cluster.call(
      'PATCH',
      `${API}/namespaces/${request.namespace}/certificaterequests/${request.name}/status`,
      { status: { conditions: [condition] } },
      { contentType: 'application/merge-patch+json' },
    );
  }

  /** Polls until `done(value)`, bounded; on timeout names what it waited for, the last value and the controller's output. */
  async until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, show: (value: T) => string = String): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    let last: T | undefined;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`cert-manager-controller exited (${this.child.exitCode}) waiting for ${what}:\n${this.output()}`);
      last = await read().catch(() => undefined);
      if (last !== undefined && done(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what} (last: ${last === undefined ? 'none' : show(last)}):\n${this.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Creates or updates a cert-manager.io/v1 object (server-side apply). */
  async apply(kind: string, metadata: { name: string; namespace?: string }, spec: Record<string, unknown>): Promise<void> {
    const object = { apiVersion: 'cert-manager.io/v1', kind, metadata, spec };
    await this.cluster.apply(object);
  }

  private async selfSignedIssuer(): Promise<string> {
    if (!this.selfSignedReady) await this.createClusterIssuer('selfsigned', { selfSigned: {} });
    this.selfSignedReady = true;
    return 'selfsigned';
  }

  private certificatePath(name: string): string {
    return `${API}/namespaces/${this.clusterResourceNamespace}/certificates/${name}`;
  }

  private async certificate(name: string): Promise<Resource & { metadata: { generation: number } }> {
    return (await this.cluster.call('GET', this.certificatePath(name))) as Resource & { metadata: { generation: number } };
  }

  /** Has the ClusterIssuer sign a throwaway leaf request; returns its status.ca (PEM). */
  private async probe(issuer: string): Promise<string> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const collection = `${API}/namespaces/${this.clusterResourceNamespace}/certificaterequests`;
    const created = (await this.cluster.call('POST', collection, {
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: { generateName: 'probe-' },
      spec: {
        request: Buffer.from(createCsrPem({ privateKey, publicKey, subject: 'CN=probe' })).toString('base64'),
        usages: ['digital signature'],
        duration: '1h',
        issuerRef: { name: issuer, kind: 'ClusterIssuer', group: 'cert-manager.io' },
      },
    })) as CertificateRequest;
    const request = `${collection}/${created.metadata.name}`;
    try {
      const issued = await this.until(
        `probe ${created.metadata.name} to be issued`,
        async () => (await this.cluster.call('GET', request)) as CertificateRequest,
        (r) => hasCondition(r, 'Ready'),
        describeConditions,
      );
      return Buffer.from(issued.status?.ca ?? '', 'base64').toString('utf8');
    } finally {
      await this.cluster.call('DELETE', request);
    }
  }
}

/** CertificateRequest events of one namespace as a watch delivers them, from when it was opened. */
export class RequestWatch {
  /** Each request as it was created. */
  readonly added: CertificateRequest[] = [];
  /** Each request as it was last when deleted (with its status). */
  readonly deleted: CertificateRequest[] = [];
  private readonly waiters = new Set<{ type: string; accept: (r: CertificateRequest) => boolean; settle: (r: CertificateRequest | Error) => void }>();
  private ended: string | undefined;
  private abort: () => void = () => undefined;

  private constructor() {}

  static async open(cluster: KubeCluster, namespace: string): Promise<RequestWatch> {
    const collection = `${API}/namespaces/${namespace}/certificaterequests`;
    const { metadata } = (await cluster.call('GET', collection)) as { metadata: { resourceVersion: string } };
    const watch = new RequestWatch();
    const controller = await new Watch(cluster.kubeConfig()).watch(
      collection,
      { resourceVersion: metadata.resourceVersion },
      (type: string, object: CertificateRequest) => watch.record(type, object),
      (err: unknown) => watch.end(err ? String(err) : 'the API server closed it'),
    );
    watch.abort = () => controller.abort();
    return watch;
  }

  /** The next `type` event (ADDED, MODIFIED, DELETED) whose object `accept`s, bounded. */
  next(type: string, accept: (r: CertificateRequest) => boolean = () => true): Promise<CertificateRequest> {
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(new Error(`the CertificateRequest watch ended: ${this.ended}`));
      const waiter = {
        type,
        accept,
        settle: (r: CertificateRequest | Error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          return r instanceof Error ? reject(r) : resolve(r);
        },
      };
      const timer = setTimeout(() => waiter.settle(new Error(`no ${type} CertificateRequest event within ${WAIT_MS} ms`)), WAIT_MS);
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.end('closed');
    this.abort();
  }

  private record(type: string, object: CertificateRequest): void {
    if (type === 'ADDED') this.added.push(object);
    if (type === 'DELETED') this.deleted.push(object);
    for (const waiter of this.waiters) if (waiter.type === type && waiter.accept(object)) waiter.settle(object);
  }

  private end(why: string): void {
    this.ended ??= why;
    for (const waiter of this.waiters) waiter.settle(new Error(`the CertificateRequest watch ended: ${why}`));
  }
}
