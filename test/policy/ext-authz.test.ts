// The ext_authz Check server over a real Unix socket, called with grpc-js as Envoy would.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { PolicyStore } from '../../core/policy/store.js';
import { startExtAuthzServer, type ExtAuthzServer } from '../../node-agent/ext-authz/server.js';
import type { Metadata } from '../../protos/gen/envoy/config/core/v3/Metadata.js';
import type { CheckRequest } from '../../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse__Output } from '../../protos/gen/envoy/service/auth/v3/CheckResponse.js';
import type { ProtoGrpcType } from '../../protos/gen/external_auth.js';
import type { AuthorizationClient } from '../../protos/gen/envoy/service/auth/v3/Authorization.js';
import { loadProto } from '../../protos/load.js';
import { policy } from './policy-fixtures.js';

const WEB = 'spiffe://td.example/ns/frontend/sa/web';
const ADMIN = 'spiffe://td.example/ns/ops/sa/admin';
const SHOP = 'spiffe://td.example/ns/prod/sa/shop';

/** A CheckRequest as Envoy sends it for an mTLS HTTP request on a TCP listener. */
function checkRequest(
  overrides: {
    principal?: string;
    path?: string;
    context?: Record<string, string>;
    destinationPrincipal?: string;
    destinationLabels?: Record<string, string>;
    metadata?: Metadata;
    noHttp?: boolean;
  } = {},
): CheckRequest {
  return {
    attributes: {
      source: { principal: overrides.principal ?? WEB, address: { socket_address: { address: '10.1.2.3', port_value: 40000 } } },
      destination: {
        principal: overrides.destinationPrincipal ?? SHOP,
        labels: overrides.destinationLabels ?? {},
        address: { socket_address: { address: '10.0.0.9', port_value: 8443 } },
      },
      request: overrides.noHttp
        ? {}
        : {
            http: {
              method: 'GET',
              path: overrides.path ?? '/items?token=secret',
              host: 'shop.example.com',
              headers: { ':authority': 'shop.example.com', 'x-team': 'blue' },
              protocol: 'HTTP/1.1',
            },
          },
      context_extensions: overrides.context ?? {},
      ...(overrides.metadata ? { metadata_context: overrides.metadata } : {}),
    },
  };
}

describe('ext_authz Check server', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-extauthz-'));
  const socketPath = path.join(dir, 'sock', 'authz.sock');
  const logLines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    name: 'meshid-agent',
    level: 'debug',
    destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const registry = new Registry();
  const store = new PolicyStore();
  let server: ExtAuthzServer;
  let client: AuthorizationClient;

  const check = (req: CheckRequest) =>
    new Promise<CheckResponse__Output>((resolve, reject) => client.Check(req, (err, res) => (err ? reject(err) : resolve(res!))));

  beforeAll(async () => {
    store.replace(
      [
        policy({ rules: [{ from: [{ source: { namespaces: ['frontend'] } }], to: [{ operation: { methods: ['GET'], ports: ['8443'] } }] }] }, { name: 'allow-frontend' }),
        policy({ action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }, { name: 'deny-admin' }),
        policy({ action: 'AUDIT', rules: [{ when: [{ key: 'request.headers[x-team]', values: ['blue'] }] }] }, { name: 'audit-blue' }),
        policy({ rules: [{ when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }] }, { namespace: 'vm', name: 'jwt-admins' }),
        policy({ action: 'DENY', rules: [{}], selector: { matchLabels: { app: 'locked' } } }, { namespace: 'vm', name: 'locked' }),
      ],
      'test',
    );
    server = await startExtAuthzServer({ socketPath, store, log, registry });
    const proto = loadProto<ProtoGrpcType>('envoy/service/auth/v3/external_auth.proto');
    client = new proto.envoy.service.auth.v3.Authorization(`unix:${socketPath}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket owner-only in a private directory', () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700);
  });

  it('allows with status OK and an ok_response', async () => {
    const res = await check(checkRequest());
    expect(res.status).toMatchObject({ code: 0 });
    expect(res.http_response).toBe('ok_response');
  });

  it('denies by a DENY rule with PERMISSION_DENIED, 403 and the reason header', async () => {
    const res = await check(checkRequest({ path: '/admin/users' }));
    expect(res.status).toMatchObject({ code: 7, message: 'denied by prod/deny-admin rule 0' });
    expect(res.http_response).toBe('denied_response');
    expect(res.denied_response).toMatchObject({
      status: { code: 'Forbidden' },
      headers: [{ header: { key: 'x-meshid-authz', value: 'denied by prod/deny-admin rule 0' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      body: 'denied by prod/deny-admin rule 0\n',
    });
  });

  it('denies when no ALLOW policy matches', async () => {
    const res = await check(checkRequest({ principal: ADMIN }));
    expect(res.status).toMatchObject({ code: 7, message: 'denied: no ALLOW policy matched' });
    expect(res.denied_response!.headers[0]!.header!.value).toBe('denied: no ALLOW policy matched');
  });

  it('treats a request without a peer principal as plaintext', async () => {
    const res = await check(checkRequest({ principal: '' }));
    expect(res.status!.message).toBe('denied: no ALLOW policy matched');
  });

  it('denies a malformed request (fail closed) and says why', async () => {
    const noHttp = await check(checkRequest({ noHttp: true }));
    expect(noHttp.status).toMatchObject({ code: 7, message: 'denied: malformed check request: no HTTP request attributes (ext_authz must run as an HTTP filter)' });
    const noWorkload = await check(checkRequest({ destinationPrincipal: '' }));
    expect(noWorkload.status!.message).toMatch(/^denied: malformed check request: no destination workload/);
    const badLabels = await check(checkRequest({ context: { workload_labels: 'app' } }));
    expect(badLabels.status!.message).toBe('denied: malformed check request: context extension workload_labels entry "app" is not name=value');
    expect(await check({})).toMatchObject({ status: { code: 7, message: 'denied: malformed check request: no attributes' } });
  });

  it('names the workload from context extensions, ahead of destination.principal, with labels from both', async () => {
    const locked = await check(checkRequest({ context: { workload_namespace: 'vm', workload_labels: 'app=locked' } }));
    expect(locked.status!.message).toBe('denied by vm/locked rule 0');
    const byLabel = await check(checkRequest({ context: { workload_spiffe_id: 'spiffe://td.example/ns/vm/sa/x' }, destinationLabels: { app: 'locked' } }));
    expect(byLabel.status!.message).toBe('denied by vm/locked rule 0');
  });

  it('reads JWT claims from the jwt_authn filter metadata', async () => {
    const claims = (groups: string[]) => ({
      filter_metadata: {
        'envoy.filters.http.jwt_authn': {
          fields: {
            jwt_payload: {
              structValue: {
                fields: {
                  iss: { stringValue: 'https://issuer.example' },
                  groups: { listValue: { values: groups.map((g) => ({ stringValue: g })) } },
                  exp: { numberValue: 1 },
                },
              },
            },
          },
        },
      },
    });
    const vm = { workload_namespace: 'vm' };
    expect((await check(checkRequest({ context: vm, metadata: claims(['dev', 'admins']) }))).status!.code).toBe(0);
    expect((await check(checkRequest({ context: vm, metadata: claims(['dev']) }))).status!.code).toBe(7);
    expect((await check(checkRequest({ context: vm }))).status!.code).toBe(7);
  });

  it('logs AUDIT matches and denials as decision records, without the query string', async () => {
    logLines.length = 0;
    await check(checkRequest({ path: '/admin?token=secret' }));
    const audit = logLines.find((l) => l['msg'] === 'authorization audit');
    expect(audit).toMatchObject({ source: WEB, sourceIp: '10.1.2.3', workload: SHOP, method: 'GET', path: '/admin', allowed: false, audit: { policy: 'prod/audit-blue', ruleIndex: 0 } });
    expect(logLines.find((l) => l['msg'] === 'request denied')).toMatchObject({ policy: 'prod/deny-admin', rule: 0 });
    expect(JSON.stringify(logLines)).not.toContain('secret');
  });

  it('counts decisions by outcome, action and policy, and times evaluations', async () => {
    await check(checkRequest());
    const text = await registry.metrics();
    expect(text).toContain('meshid_authz_decisions_total{decision="allow",action="ALLOW",policy="prod/allow-frontend"}');
    expect(text).toMatch(/meshid_authz_decisions_total\{decision="deny",action="DENY",policy="prod\/deny-admin"\} [1-9]/);
    expect(text).toMatch(/meshid_authz_decisions_total\{decision="deny",action="malformed",policy="none"\} [1-9]/);
    expect(text).toMatch(/meshid_authz_audit_matches_total\{policy="prod\/audit-blue"\} [1-9]/);
    expect(text).toMatch(/meshid_authz_evaluation_duration_seconds_count [1-9]/);
  });

  it('follows store updates without a restart', async () => {
    store.replace([policy({ action: 'DENY', rules: [{}] }, { name: 'deny-all' })], 'test');
    expect((await check(checkRequest())).status!.message).toBe('denied by prod/deny-all rule 0');
  });
});
