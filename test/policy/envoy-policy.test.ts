// Real Envoy enforcing meshid policies: an mTLS listener whose ext_authz filter calls the node agent's Check
// server (policies from a watched YAML file) in front of a small Node upstream. Three client identities:
// one allowed, one denied by a DENY rule, one denied because no ALLOW matches; then the policy file changes
// and Envoy, untouched, enforces the new set. Fails (never skips) when Envoy is not provisioned.
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchPolicyFiles, type PolicyFileSource } from '../../core/policy/file-source.js';
import { PolicyStore, type PolicyUpdate } from '../../core/policy/store.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { privateKeyToPem } from '../../core/x509/keys.js';
import { startExtAuthzServer, type ExtAuthzServer } from '../../node-agent/ext-authz/server.js';
import { grpcPipeCluster, startEnvoy, type EnvoyProcess } from '../peers/envoy-process.js';
import { issueLeafSvid, newRootAuthority, type Authority, type LeafSvid } from '../peers/svid-fixtures.js';

const TD = TrustDomain.parse('example.org');
const SHOP = 'spiffe://example.org/ns/prod/sa/shop';
const WEB = 'spiffe://example.org/ns/frontend/sa/web';
const EVIL = 'spiffe://example.org/ns/quarantine/sa/evil';
const BATCH = 'spiffe://example.org/ns/ops/sa/batch';

const policies = (allowedNamespaces: string[]) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-callers, namespace: prod}
spec:
  selector: {matchLabels: {app: shop}}
  rules:
  - from: [{source: {namespaces: [${allowedNamespaces.join(', ')}]}}]
    to: [{operation: {methods: [GET], paths: ["/orders*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-quarantine, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from: [{source: {namespaces: [quarantine]}}]
`;

function bootstrap(dir: string) {
  const file = (name: string) => ({ filename: path.join(dir, name) });
  return {
    // The protected workload: its namespace comes from the listener certificate's SPIFFE ID
    // (destination.principal), its labels from here via bootstrap_metadata_labels_key.
    node: { id: 'shop-sidecar', cluster: 'shop', metadata: { labels: { app: 'shop' } } },
    static_resources: {
      listeners: [
        {
          name: 'mtls',
          address: { pipe: { path: path.join(dir, 'mtls.sock') } },
          filter_chains: [
            {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                  require_client_certificate: true,
                  common_tls_context: {
                    tls_certificates: [{ certificate_chain: file('shop.pem'), private_key: file('shop-key.pem') }],
                    validation_context: { trusted_ca: file('root.pem') },
                  },
                },
              },
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'mtls',
                    route_config: {
                      virtual_hosts: [{ name: 'shop', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.ext_authz',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
                          transport_api_version: 'V3',
                          grpc_service: { envoy_grpc: { cluster_name: 'meshid-authz' }, timeout: '1s' },
                          include_peer_certificate: true,
                          failure_mode_allow: false,
                          bootstrap_metadata_labels_key: 'labels',
                        },
                      },
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        grpcPipeCluster('meshid-authz', path.join(dir, 'authz', 'authz.sock')),
        {
          name: 'app',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: path.join(dir, 'app.sock') } } } }] }] },
        },
      ],
    },
  };
}

describe('real Envoy enforcing meshid authorization policies over ext_authz', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-envoy-policy-'));
  const policyFile = path.join(dir, 'policies.yaml');
  const store = new PolicyStore();
  const reloads = new EventEmitter();
  const upstreamCalls: string[] = [];
  let root: Authority;
  const clients = new Map<string, LeafSvid>();
  let source: PolicyFileSource;
  let authz: ExtAuthzServer;
  let envoy: EnvoyProcess | undefined;
  const upstream = http.createServer((req, res) => {
    upstreamCalls.push(req.url ?? '');
    res.end('order list\n');
  });

  /** GET over mTLS through Envoy as `spiffeId`. */
  function get(spiffeId: string, urlPath: string) {
    const svid = clients.get(spiffeId)!;
    return new Promise<{ status: number; reason: string | undefined; body: string }>((resolve, reject) => {
      const req = https.request(
        {
          socketPath: path.join(dir, 'mtls.sock'),
          path: urlPath,
          headers: { host: 'shop.prod' },
          ca: root.certificate.toString('pem'),
          cert: svid.certificate.toString('pem'),
          key: privateKeyToPem(svid.keys.privateKey),
          checkServerIdentity: () => undefined, // the SVID has a URI SAN, no DNS name
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-meshid-authz'] as string | undefined, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    root = await newRootAuthority(TD);
    const shop = await issueLeafSvid(root, SHOP);
    writeFileSync(path.join(dir, 'root.pem'), root.certificate.toString('pem'));
    writeFileSync(path.join(dir, 'shop.pem'), shop.certificate.toString('pem'));
    writeFileSync(path.join(dir, 'shop-key.pem'), privateKeyToPem(shop.keys.privateKey), { mode: 0o600 });
    for (const id of [WEB, EVIL, BATCH]) clients.set(id, await issueLeafSvid(root, id));

    writeFileSync(policyFile, policies(['frontend']));
    source = watchPolicyFiles({ paths: [policyFile], store, log: pino({ level: 'silent' }), debounceMs: 50, onReload: (r) => reloads.emit('reload', r) });
    await source.initial;
    authz = await startExtAuthzServer({ socketPath: path.join(dir, 'authz', 'authz.sock'), store, log: pino({ level: 'silent' }) });
    await new Promise<void>((resolve) => upstream.listen(path.join(dir, 'app.sock'), resolve));

    envoy = startEnvoy(bootstrap(dir), dir);
    await envoy.logged('starting workers');
  });

  afterAll(async () => {
    await envoy?.stop();
    source?.close();
    await authz?.close();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows the identity an ALLOW rule names, and the request reaches the upstream', async () => {
    expect(await get(WEB, '/orders?page=2')).toEqual({ status: 200, reason: undefined, body: 'order list\n' });
    expect(upstreamCalls).toEqual(['/orders?page=2']);
  });

  it('denies the identity a DENY rule names, with 403 and the reason header', async () => {
    expect(await get(EVIL, '/orders')).toEqual({
      status: 403,
      reason: 'denied by istio-system/deny-quarantine rule 0',
      body: 'denied by istio-system/deny-quarantine rule 0\n',
    });
  });

  it('denies an identity no ALLOW rule names', async () => {
    expect(await get(BATCH, '/orders')).toMatchObject({ status: 403, reason: 'denied: no ALLOW policy matched' });
    expect(await get(WEB, '/admin')).toMatchObject({ status: 403, reason: 'denied: no ALLOW policy matched' });
    expect(upstreamCalls).toEqual(['/orders?page=2']);
  });

  it('enforces a changed policy file without restarting Envoy', async () => {
    const reloaded = once(reloads, 'reload') as Promise<[{ update: PolicyUpdate }]>;
    writeFileSync(policyFile, policies(['frontend', 'ops']));
    const [result] = await reloaded;
    expect(result.update).toMatchObject({ version: 2, policies: 2 });

    expect(await get(BATCH, '/orders')).toMatchObject({ status: 200, body: 'order list\n' });
    expect(await get(EVIL, '/orders')).toMatchObject({ status: 403, reason: 'denied by istio-system/deny-quarantine rule 0' });
  });
});
