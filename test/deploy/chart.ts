// The Helm chart (deploy/helm/meshid) rendered by the real helm binary, for tests that need the objects it
// deploys: renderChart() for the objects, applyChartRbac() to give a real API server exactly the chart's
// ServiceAccounts and permissions and get tokens for them (so a suite can run the CA with nothing more).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import type { KubeCluster } from '../peers/kube-cluster.js';
import { requirePeer } from '../peers/peers.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART_DIR = path.join(REPO_ROOT, 'deploy/helm/meshid');
/** Release name and namespace of every render here (and of deploy/kubernetes). */
export const RELEASE = { name: 'meshid', namespace: 'meshid-system' } as const;

/** Any part of an object (a pod spec, a container, a volume), of every kind: tests read the fields they check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fields = Record<string, any>;

export interface K8sObject extends Fields {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the provisioned helm; resolves with its exit code and output, whatever they are. */
export function runHelm(args: string[]): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(requirePeer('helm'), args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs `helm <command> ... -f <values file>` with `values` written to a temporary file. */
export async function helmWithValues(command: string[], values: object = {}): Promise<HelmResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-chart-'));
  try {
    const file = path.join(dir, 'values.yaml');
    await writeFile(file, JSON.stringify(values));
    return await runHelm([...command, '-f', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template` of the chart as release meshid in meshid-system; throws with helm's message when it fails. */
export async function helmTemplate(values: object = {}): Promise<string> {
  const res = await helmWithValues(['template', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace], values);
  if (res.code !== 0) throw new Error(`helm template failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}

/** Kubernetes objects from multi-document YAML, read as YAML 1.1 like helm and kubectl read manifests. */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

/** The chart's objects for `values` (merged over the chart's values.yaml), as helm renders them. */
export async function renderChart(values: object = {}): Promise<K8sObject[]> {
  return parseManifests(await helmTemplate(values));
}

/** The one object of `kind` (named `name`, when given); throws when there is none or more than one. */
export function findObject(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''} in the chart, found ${found.length}`);
  return found[0]!;
}

/** The CA's or the agent's object of `kind`, told apart by the chart's component label. */
export function componentObject(objects: readonly K8sObject[], kind: string, component: 'ca' | 'agent'): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.labels?.['app.kubernetes.io/component'] === component);
  if (found.length !== 1) throw new Error(`expected one ${kind} of the ${component} in the chart, found ${found.length}`);
  return found[0]!;
}

/** meshid.yaml as the CA reads it from its ConfigMap. */
export function caConfigOf(objects: readonly K8sObject[]): Record<string, unknown> {
  return parse(componentObject(objects, 'ConfigMap', 'ca').data['meshid.yaml']) as Record<string, unknown>;
}

/** agent.yaml as the node agent reads it from its ConfigMap. */
export function agentConfigOf(objects: readonly K8sObject[]): Record<string, unknown> {
  return parse(componentObject(objects, 'ConfigMap', 'agent').data['agent.yaml']) as Record<string, unknown>;
}

/**
 * Server-side apply with strict field validation, so a field the API server does not know fails instead of
 * being dropped with a warning. Returns the object as stored.
 */
export async function applyStrict(cluster: KubeCluster, object: K8sObject): Promise<K8sObject> {
  const base = await cluster.resourcePath(object.apiVersion, object.kind, object.metadata.namespace);
  return cluster.call('PATCH', `${base}/${object.metadata.name}?fieldManager=meshid-chart&fieldValidation=Strict&force=true`, object, {
    contentType: 'application/apply-patch+yaml',
  });
}

const RBAC_KINDS = ['Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];

export interface ChartIdentities {
  /** TokenRequest tokens of the chart's CA and agent ServiceAccounts, for the API server's own audience. */
  caToken: string;
  agentToken: string;
  /** Writes a kubeconfig for the CA's token to `file` and returns its path (for kubernetes.kubeconfig). */
  caKubeconfig(file: string): Promise<string>;
}

/**
 * Applies the chart's Namespace, ServiceAccounts, roles and bindings (nothing else) for `values` and mints
 * tokens for its CA and agent ServiceAccounts: a CA run with caKubeconfig() has exactly the chart's
 * permissions.
 */
export async function applyChartRbac(cluster: KubeCluster, values: object = {}): Promise<ChartIdentities> {
  const objects = (await renderChart(values))
    .filter((o) => RBAC_KINDS.includes(o.kind))
    .sort((a, b) => RBAC_KINDS.indexOf(a.kind) - RBAC_KINDS.indexOf(b.kind));
  for (const namespace of new Set(objects.flatMap((o) => o.metadata.namespace ?? []))) await cluster.ensureNamespace(namespace);
  for (const object of objects) await applyStrict(cluster, object);
  const token = (component: 'ca' | 'agent') => {
    const account = componentObject(objects, 'ServiceAccount', component).metadata;
    return cluster.requestToken(account.namespace!, account.name, { audiences: [cluster.issuer] });
  };
  const caToken = await token('ca');
  return {
    caToken,
    agentToken: await token('agent'),
    caKubeconfig: (file) => cluster.writeKubeconfig(file, caToken),
  };
}

/** Values for each upstream authority, each complete enough to render and to pass meshid's own config check. */
export const UPSTREAM_VALUES = {
  'self-signed': {},
  files: { upstream: { type: 'files', files: { secretName: 'meshid-cacerts' } } },
  'vault (kubernetes auth)': {
    upstream: {
      type: 'vault',
      vault: { address: 'https://vault.vault.svc:8200', caSecret: { name: 'vault-ca' }, auth: { method: 'kubernetes', kubernetes: { role: 'meshid', audience: 'vault' } } },
    },
  },
  'vault (token)': {
    upstream: { type: 'vault', vault: { address: 'https://vault.example:8200', namespace: 'mesh', timeout: '15s', auth: { method: 'token', token: { secretName: 'vault-token' } } } },
  },
  'openbao (approle)': {
    upstream: {
      type: 'vault',
      vault: {
        address: 'https://openbao.example:8200',
        pkiMount: 'pki_int',
        auth: { method: 'approle', approle: { roleId: 'meshid-role', secretIdSecret: { name: 'openbao-approle' } } },
      },
    },
  },
  'cert-manager': {
    upstream: { type: 'cert-manager', certManager: { issuerName: 'mesh-root', issuerKind: 'ClusterIssuer', namespace: 'cert-manager' } },
  },
} as const satisfies Record<string, object>;

/** Other value sets every chart test runs: attestation modes, Istio, policies, bundle namespaces, monitoring. */
export const FEATURE_VALUES = {
  'jwt mode with OIDC discovery': {
    kubernetes: {
      mode: 'jwt',
      jwt: { issuer: 'https://kubernetes.default.svc.cluster.local', oidcDiscoveryUrl: 'https://kubernetes.default.svc', anonymousDiscovery: true },
    },
  },
  'jwt mode with a JWKS ConfigMap': {
    kubernetes: { mode: 'jwt', jwt: { issuer: 'https://kubernetes.default.svc.cluster.local', jwksConfigMap: { name: 'cluster-jwks' } } },
  },
  istio: { istio: { enabled: true, istiodDnsName: true }, policies: { kubernetes: true } },
  'bundle in listed namespaces': { bundleConfigMap: { namespaces: ['shop', 'payments'] } },
  monitoring: { monitoring: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } } },
} as const satisfies Record<string, object>;

export const ALL_VALUES: Record<string, object> = { ...UPSTREAM_VALUES, ...FEATURE_VALUES };
