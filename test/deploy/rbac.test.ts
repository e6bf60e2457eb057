// The chart's RBAC on a real kube-apiserver: SubjectAccessReviews for every call meshid makes (and for what
// it must not be able to do), and the calls themselves made with the ServiceAccounts' own tokens.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../peers/kube-cluster.js';
import { applyChartRbac, type ChartIdentities, componentObject, RELEASE, renderChart } from './chart.js';

/** The CA with every API-calling feature on: TokenReview, the bundle in every namespace, policies, cert-manager. */
const VALUES = {
  policies: { kubernetes: true },
  upstream: { type: 'cert-manager', certManager: { issuerName: 'mesh-root', namespace: 'cert-manager' } },
};
const BUNDLE = 'istio-ca-root-cert';

type Attributes = Parameters<KubeCluster['can']>[1];

let cluster: KubeCluster;
let identities: ChartIdentities;
let ca: { username: string; groups: string[] };
let agent: { username: string; groups: string[] };

/** The user and groups the API server authenticates a ServiceAccount's token as. */
const serviceAccountUser = (namespace: string, name: string) => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});

beforeAll(async () => {
  cluster = await KubeCluster.start();
  identities = await applyChartRbac(cluster, VALUES);
  const objects = await renderChart(VALUES);
  const account = (component: 'ca' | 'agent') => componentObject(objects, 'ServiceAccount', component).metadata;
  ca = serviceAccountUser(RELEASE.namespace, account('ca').name);
  agent = serviceAccountUser(RELEASE.namespace, account('agent').name);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

const describeAttributes = (a: Attributes) =>
  `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` in ${a.namespace}` : ' cluster-wide'}`;

const CA_CAN: Attributes[] = [
  { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
  { verb: 'list', resource: 'namespaces' },
  { verb: 'watch', resource: 'namespaces' },
  // The bundle ConfigMap in any namespace, existing or new: list + watch by name, server-side apply.
  { verb: 'list', resource: 'configmaps', name: BUNDLE },
  { verb: 'watch', resource: 'configmaps', name: BUNDLE },
  ...['default', 'kube-system', 'shop'].flatMap((namespace) => ['create', 'patch'].map((verb) => ({ verb, resource: 'configmaps', name: BUNDLE, namespace }))),
  { verb: 'list', group: 'security.istio.io', resource: 'authorizationpolicies' },
  { verb: 'watch', group: 'security.istio.io', resource: 'authorizationpolicies' },
  ...['create', 'get', 'delete'].map((verb) => ({ verb, group: 'cert-manager.io', resource: 'certificaterequests', namespace: 'cert-manager', name: verb === 'create' ? undefined : 'spiffe-ca-x' })),
];

const CA_CANNOT: Attributes[] = [
  { verb: 'get', resource: 'secrets', namespace: RELEASE.namespace, name: 'anything' },
  { verb: 'list', resource: 'secrets' },
  { verb: 'get', resource: 'secrets' },
  { verb: 'create', resource: 'pods', namespace: 'default' },
  { verb: 'get', resource: 'pods', namespace: 'default', name: 'web-1' },
  { verb: 'get', resource: 'nodes', name: 'worker-1' },
  { verb: 'delete', resource: 'nodes', name: 'worker-1' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'meshid-ca' },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'cluster-admin' },
  { verb: 'impersonate', resource: 'serviceaccounts', namespace: 'kube-system', name: 'default' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: RELEASE.namespace, name: 'meshid-agent' },
  // Other ConfigMaps: not readable, not writable, not creatable; the bundle's may not be deleted or read unnamed.
  { verb: 'patch', resource: 'configmaps', namespace: 'kube-system', name: 'coredns' },
  { verb: 'get', resource: 'configmaps', namespace: 'kube-system', name: 'coredns' },
  { verb: 'list', resource: 'configmaps' },
  { verb: 'create', resource: 'configmaps', namespace: 'default' },
  { verb: 'delete', resource: 'configmaps', namespace: 'default', name: BUNDLE },
  { verb: 'update', resource: 'namespaces', name: 'default' },
  { verb: 'delete', group: 'security.istio.io', resource: 'authorizationpolicies', namespace: 'shop', name: 'allow' },
  { verb: 'create', group: 'cert-manager.io', resource: 'certificaterequests', namespace: 'default' },
  { verb: 'list', group: 'cert-manager.io', resource: 'certificaterequests', namespace: 'cert-manager' },
  { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' },
];

const AGENT_CANNOT: Attributes[] = [
  { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
  { verb: 'get', resource: 'pods', namespace: 'default', name: 'web-1' },
  { verb: 'list', resource: 'pods' },
  { verb: 'get', resource: 'nodes', name: 'worker-1' },
  { verb: 'list', resource: 'configmaps', name: BUNDLE },
  { verb: 'patch', resource: 'configmaps', namespace: RELEASE.namespace, name: BUNDLE },
  { verb: 'get', resource: 'secrets', namespace: RELEASE.namespace, name: 'anything' },
  { verb: 'list', resource: 'secrets' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: RELEASE.namespace, name: 'meshid-ca' },
  { verb: 'list', group: 'security.istio.io', resource: 'authorizationpolicies' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'meshid-ca' },
];

describe('SubjectAccessReviews for the chart\'s ServiceAccounts', { timeout: 60_000 }, () => {
  it.each(CA_CAN.map((a) => [describeAttributes(a), a] as const))('the CA can %s', async (_what, attributes) => {
    expect(await cluster.can(ca, attributes)).toBe(true);
  });

  it.each(CA_CANNOT.map((a) => [describeAttributes(a), a] as const))('the CA cannot %s', async (_what, attributes) => {
    expect(await cluster.can(ca, attributes)).toBe(false);
  });

  it.each(AGENT_CANNOT.map((a) => [describeAttributes(a), a] as const))('the agent cannot %s', async (_what, attributes) => {
    expect(await cluster.can(agent, attributes)).toBe(false);
  });

  it('without cert-manager, policies or the bundle, the CA keeps only TokenReview', async () => {
    await applyChartRbac(cluster, { fullnameOverride: 'minimal', bundleConfigMap: { enabled: false } });
    const minimal = serviceAccountUser(RELEASE.namespace, 'minimal-ca');
    expect(await cluster.can(minimal, CA_CAN[0]!)).toBe(true);
    for (const attributes of CA_CAN.slice(1)) expect(await cluster.can(minimal, attributes), describeAttributes(attributes)).toBe(false);
  });
});

describe('the calls themselves, with the ServiceAccounts\' tokens', { timeout: 60_000 }, () => {
  const as = (token: string) => ({ token });

  it('the CA reviews a token; the agent may not', async () => {
    const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: identities.agentToken } };
    const byCa = await cluster.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', review, as(identities.caToken));
    expect(byCa.status).toBe(201);
    expect(byCa.body.status.user.username).toBe(agent.username);
    const byAgent = await cluster.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', review, as(identities.agentToken));
    expect(byAgent.status).toBe(403);
  });

  it('the CA creates the bundle ConfigMap by server-side apply, and no other ConfigMap', async () => {
    await cluster.ensureNamespace('shop');
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: BUNDLE, namespace: 'shop' }, data: { 'root-cert.pem': 'PEM' } };
    const res = await cluster.request('PATCH', `/api/v1/namespaces/shop/configmaps/${BUNDLE}?fieldManager=meshid-ca&force=true`, body, {
      ...as(identities.caToken),
      contentType: 'application/apply-patch+yaml',
    });
    expect(res.status).toBe(201);
    const other = await cluster.request('PATCH', '/api/v1/namespaces/shop/configmaps/other?fieldManager=meshid-ca&force=true', { ...body, metadata: { name: 'other', namespace: 'shop' } }, {
      ...as(identities.caToken),
      contentType: 'application/apply-patch+yaml',
    });
    expect(other.status).toBe(403);
  });

  it('the CA lists the bundle ConfigMaps by name across namespaces, and nothing else', async () => {
    const named = await cluster.request('GET', `/api/v1/configmaps?fieldSelector=metadata.name%3D${BUNDLE}`, undefined, as(identities.caToken));
    expect(named.status).toBe(200);
    expect(named.body.items.map((c: { metadata: { namespace: string } }) => c.metadata.namespace)).toContain('shop');
    expect((await cluster.request('GET', '/api/v1/configmaps', undefined, as(identities.caToken))).status).toBe(403);
    expect((await cluster.request('GET', '/api/v1/namespaces', undefined, as(identities.caToken))).status).toBe(200);
    expect((await cluster.request('GET', '/api/v1/secrets', undefined, as(identities.caToken))).status).toBe(403);
  });

  it('the agent\'s token may read nothing', async () => {
    for (const apiPath of ['/api/v1/namespaces', `/api/v1/configmaps?fieldSelector=metadata.name%3D${BUNDLE}`, '/api/v1/pods', '/api/v1/nodes']) {
      expect((await cluster.request('GET', apiPath, undefined, as(identities.agentToken))).status, apiPath).toBe(403);
    }
  });

  it('caKubeconfig() writes a kubeconfig that authenticates as the CA', async () => {
    const file = await identities.caKubeconfig(`${cluster.dir}/ca.kubeconfig`);
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    expect(kc.getCurrentUser()?.token).toBe(identities.caToken);
    expect(kc.getCurrentCluster()?.server).toBe(cluster.url);
  });
});
