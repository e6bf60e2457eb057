// Real Envoy's ext_authz filter against a minimal Authorization server built on protos/envoy: the
// CheckRequest attributes must decode, and allow / deny answers (google.rpc.Status, HttpStatus enum,
// HeaderValueOption) must take effect exactly as meshid will send them.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProto } from '../../protos/load.js';
import { bindUnixSocket, grpcPipeCluster, startEnvoy, type EnvoyProcess } from './envoy-process.js';

interface CheckRequest {
  attributes: {
    request: {
      time: { seconds: number; nanos: number } | null;
      http: { method: string; path: string; host: string; headers: Record<string, string>; protocol: string };
    };
    context_extensions: Record<string, string>;
  };
}

function bootstrap(dir: string) {
  return {
    static_resources: {
      listeners: [
        {
          name: 'http',
          address: { pipe: { path: path.join(dir, 'http.sock') } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'http',
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'upstream ok' } } }],
                          typed_per_filter_config: {
                            'envoy.filters.http.ext_authz': {
                              '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
                              check_settings: { context_extensions: { route: 'all' } },
                            },
                          },
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.ext_authz',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
                          transport_api_version: 'V3',
                          grpc_service: { envoy_grpc: { cluster_name: 'authz' }, timeout: '2s' },
                        },
                      },
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [grpcPipeCluster('authz', path.join(dir, 'authz.sock'))],
    },
  };
}

function get(socketPath: string, urlPath: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('real Envoy ext_authz against protos/envoy/service/auth', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-authz-'));
  const server = new grpc.Server();
  const checks: CheckRequest[] = [];
  let envoy: EnvoyProcess | undefined;
  const send = (urlPath: string, headers: Record<string, string>) => get(path.join(dir, 'http.sock'), urlPath, headers);

  beforeAll(async () => {
    const auth = loadProto<{ envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } }>(
      'envoy/service/auth/v3/external_auth.proto',
    );
    server.addService(auth.envoy.service.auth.v3.Authorization.service, {
      Check: (call: grpc.ServerUnaryCall<CheckRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        checks.push(call.request);
        if (call.request.attributes.request.http.headers['x-deny'] !== undefined) {
          callback(null, {
            status: { code: grpc.status.PERMISSION_DENIED, message: 'denied by policy' },
            denied_response: {
              status: { code: 'Unauthorized' },
              headers: [{ header: { key: 'x-meshid-denied', value: 'policy' } }],
              body: 'RBAC: access denied',
            },
          });
          return;
        }
        callback(null, {
          status: { code: grpc.status.OK },
          ok_response: { response_headers_to_add: [{ header: { key: 'x-meshid-checked', value: 'yes' } }] },
        });
      },
    });
    await bindUnixSocket(server, path.join(dir, 'authz.sock'));
    envoy = startEnvoy(bootstrap(dir), dir);
    await envoy.logged('starting workers');
  });

  afterAll(async () => {
    await envoy?.stop();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows with status OK and adds the ok_response headers', async () => {
    const res = await send('/orders?id=7', { host: 'shop.local', 'X-Test': 'yes' });
    expect(res).toMatchObject({ status: 200, body: 'upstream ok', headers: { 'x-meshid-checked': 'yes' } });
  });

  it('sent the request attributes: method, path with query, host, lower-cased headers, time', () => {
    const check = checks.find((c) => c.attributes.request.http.path === '/orders?id=7');
    expect(check?.attributes.request.http).toMatchObject({ method: 'GET', host: 'shop.local', protocol: 'HTTP/1.1' });
    expect(check?.attributes.request.http.headers['x-test']).toBe('yes');
    expect(check?.attributes.context_extensions).toEqual({ route: 'all' });
    expect(Math.abs(check!.attributes.request.time!.seconds - Date.now() / 1000)).toBeLessThan(60);
  });

  it('denies with the denied_response status, headers and body', async () => {
    const res = await send('/orders', { host: 'shop.local', 'x-deny': '1' });
    expect(res).toMatchObject({ status: 401, body: 'RBAC: access denied', headers: { 'x-meshid-denied': 'policy' } });
  });
});
