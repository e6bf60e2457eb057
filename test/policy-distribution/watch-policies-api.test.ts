// WatchPolicies on the CA's TLS port, called with grpc-js as an agent would: authentication, what the
// messages carry, and that every policy survives the trip to JSON and back unchanged.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPolicyObject } from '../../core/policy/to-object.js';
import { validatePolicy } from '../../core/policy/validate.js';
import type { NodeAgentServiceClient } from '../../protos/gen/meshid/v1/NodeAgentService.js';
import type { PolicySet__Output } from '../../protos/gen/meshid/v1/PolicySet.js';
import { CaFixture, derToPem, newCsr, rpc } from '../ca-server/fixture.js';
import { policy } from '../policy/policy-fixtures.js';
import { FRONTEND, writePolicies } from './support.js';

let dir: string;
let ca: CaFixture;
let agentClient: NodeAgentServiceClient;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-watch-policies-'));
  await writePolicies(path.join(dir, 'mesh.yaml'), [FRONTEND]);
  ca = await CaFixture.start({ kubernetes: 'disabled', config: { policies: { paths: [dir], rootNamespace: 'mesh-root' } } });
  const admin = ca.adminClient();
  const anonymous = ca.agentClient();
  const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
  const { csr, keyPem } = await newCsr();
  const attested = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
  admin.close();
  anonymous.close();
  agentClient = ca.agentClient({ certChainPem: attested.svid!.cert_chain.map(derToPem).join(''), keyPem });
});

afterAll(async () => {
  agentClient?.close();
  await ca?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('WatchPolicies', () => {
  it('refuses a caller without an agent SVID', async () => {
    const anonymous = ca.agentClient();
    try {
      const err = await new Promise<ServiceError>((resolve) => anonymous.WatchPolicies({}).on('error', resolve));
      expect(err.code).toBe(status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
    }
  });

  it('sends an authenticated agent the current set at once: validated JSON objects, version, source, root namespace', async () => {
    const stream = agentClient.WatchPolicies({});
    stream.on('error', () => undefined); // the cancel below ends it with CANCELLED
    const message = await new Promise<PolicySet__Output>((resolve) => stream.once('data', resolve));
    stream.cancel();
    expect(message).toMatchObject({ version: 1, source: 'files', root_namespace: 'mesh-root' });
    const objects = message.policies_json.map((json) => JSON.parse(json) as Record<string, unknown>);
    expect(objects.map((o) => o['metadata'])).toEqual([
      { name: 'deny-quarantine', namespace: 'istio-system' },
      { name: 'allow-callers', namespace: 'shop' },
    ]);
    expect(objects[1]).toEqual({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'allow-callers', namespace: 'shop' },
      spec: {
        action: 'ALLOW',
        selector: { matchLabels: { app: 'api' } },
        rules: [{ from: [{ source: { principals: ['meshid.test/ns/web/sa/frontend'] } }], to: [{ operation: { methods: ['GET'], paths: ['/orders*'] } }] }],
      },
    });
  });
});

describe('policies as JSON objects', () => {
  const cases = {
    'ALLOW without rules (denies everything in scope)': policy({}),
    'rules: [{}] (matches everything)': policy({ rules: [{}] }),
    'AUDIT with a SPIFFE ID selector': policy({ action: 'AUDIT', selector: { matchLabels: { 'meshid.dev/spiffe-id': 'spiffe://td.example/vm/billing' } }, rules: [{}] }),
    'every field': policy({
      action: 'DENY',
      selector: { matchLabels: { app: 'shop', version: 'v1' } },
      rules: [
        {
          from: [
            { source: { principals: ['td.example/ns/a/sa/b'], notPrincipals: ['*/sa/evil'], namespaces: ['a'], notNamespaces: ['b'] } },
            { source: { ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.1.0.0/16'], requestPrincipals: ['iss/sub'], notRequestPrincipals: ['*'] } },
          ],
          to: [{ operation: { hosts: ['a.com'], notHosts: ['b.com:*'], methods: ['GET'], notMethods: ['POST'], paths: ['/a*'], notPaths: ['*.js'], ports: ['8080'], notPorts: ['22'] } }],
          when: [
            { key: 'request.headers[x-team]', values: ['blue'] },
            { key: 'request.auth.claims[groups]', notValues: ['guests'] },
            { key: 'destination.port', values: ['8443'] },
          ],
        },
        { to: [{ operation: { methods: ['DELETE'] } }] },
      ],
    }),
  };

  for (const [name, original] of Object.entries(cases)) {
    it(`validate(toPolicyObject(p)) gives back p: ${name}`, () => {
      const roundTrip = validatePolicy(JSON.parse(JSON.stringify(toPolicyObject(original))));
      expect(roundTrip).toEqual({ policy: original });
    });
  }
});
