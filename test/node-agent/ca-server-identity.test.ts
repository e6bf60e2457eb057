// The node agent authenticates the CA by its SPIFFE ID, not only by its DNS name: a server holding any other
// SVID of the same trust domain that also names the CA's host (the hole issue #9 describes) is refused.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import { createLeafSigner } from '../../core/x509/leaf.js';
import { CaClient } from '../../node-agent/ca-client.js';
import type { ProtoGrpcType as AgentProto } from '../../protos/gen/agent.js';
import { loadProto } from '../../protos/load.js';
import { CaFixture, derToPem, newCsr, rpc, TRUST_DOMAIN } from '../ca-server/fixture.js';

let ca: CaFixture;
const servers: grpc.Server[] = [];
const clients: CaClient[] = [];

beforeAll(async () => {
  ca = await CaFixture.start({ kubernetes: 'disabled' });
});

afterAll(async () => {
  for (const client of clients) client.close();
  for (const server of servers) server.forceShutdown();
  await ca?.close();
});

function caClient(address: string): CaClient {
  const client = new CaClient({ addresses: [address], tlsServerName: 'localhost', callTimeoutMs: 5_000, reconnectBackoff: { initialMs: 100, maxMs: 200 } });
  client.setTrustAnchors(ca.bundlePem());
  clients.push(client);
  return client;
}

async function joinRequest() {
  const admin = ca.adminClient();
  try {
    const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: '', ttl_seconds: 600 });
    const { csr, keyPem } = await newCsr();
    return { request: { join_token: token.value, csr }, keyPem };
  } finally {
    admin.close();
  }
}

/**
 * A TLS NodeAgentService whose certificate the real CA's signing authority signed for `spiffeId`, with the
 * CA's DNS name "localhost". It would answer AttestAgent, so only the agent's identity check stops it.
 */
async function imposter(spiffeId: string): Promise<string> {
  const signing = ca.server.authorities.active();
  const keys = generateKeyPair();
  const now = Date.now();
  const leaf = createLeafSigner({ issuerCertDer: signing.certificateDer, issuerKey: signing.privateKey }).sign({
    spkiDer: keys.publicKey.export({ type: 'spki', format: 'der' }),
    spiffeId,
    dnsNames: ['localhost'],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 600_000),
  });
  const chainPem = [leaf.der, ...signing.chainDer].map(derToPem).join('');
  const server = new grpc.Server();
  const proto = loadProto<AgentProto>('meshid/v1/agent.proto');
  server.addService(proto.meshid.v1.NodeAgentService.service, {
    AttestAgent: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback({ code: grpc.status.FAILED_PRECONDITION, details: 'the imposter got the join token' }),
  });
  const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(chainPem), private_key: Buffer.from(privateKeyToPem(keys.privateKey)) }], false);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  servers.push(server);
  return `127.0.0.1:${port}`;
}

describe('the node agent authenticates the CA by its SPIFFE ID', () => {
  it('the real CA presents spiffe://<td>/meshid/server and is accepted, before and after the agent has an SVID', async () => {
    const client = caClient(ca.target);
    const { request, keyPem } = await joinRequest();
    const res = await client.attestAgent(request);
    client.setIdentity(res.svid!.cert_chain.map(derToPem).join(''), keyPem);
    expect((await client.listAgentEntries()).length).toBe(0);
  });

  it('a server with a workload SVID of the same trust domain and the CA\'s DNS name never sees the join token', async () => {
    const address = await imposter(`spiffe://${TRUST_DOMAIN}/ns/default/sa/web`);
    const { request } = await joinRequest();
    await expect(caClient(address).attestAgent(request)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining(`is not the meshid CA: it presented spiffe://${TRUST_DOMAIN}/ns/default/sa/web, expected spiffe://<trust domain>/meshid/server`),
    });
  });

  it('once the agent knows its trust domain, a server ID of another trust domain is refused too', async () => {
    const address = await imposter('spiffe://elsewhere.test/meshid/server');
    const client = caClient(ca.target);
    const { request, keyPem } = await joinRequest();
    const res = await client.attestAgent(request);
    const pinned = caClient(address);
    pinned.setIdentity(res.svid!.cert_chain.map(derToPem).join(''), keyPem);
    await expect(pinned.renewAgent((await newCsr()).csr)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining(`it presented spiffe://elsewhere.test/meshid/server, expected spiffe://${TRUST_DOMAIN}/meshid/server`),
    });
  });
});
