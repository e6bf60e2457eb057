// The agent's SDS service on a real VM workload socket, driven like Envoy drives it, over SVIDs signed by a
// real in-process CA: resource names, validation contexts, ACK/NACK, pushes, refusals and stream cleanup.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import type { SecretDiscoveryServiceClient } from '../../../protos/gen/envoy/service/secret/v3/SecretDiscoveryService.js';
import { SECRET_TYPE_URL } from '../../../node-agent/sds/secrets.js';
import { pollUntil, startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { TRUST_DOMAIN } from './support/ca-identity-source.js';
import { SdsStreamClient, sdsClient, unaryCall, type DecodedSecret } from './support/clients.js';
import { pemBlocks } from './support/pem.js';

const WEB = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;
const WEB_ADMIN = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web-admin`;
const PARTNER = 'spiffe://partner.test';
const WEB_UID = ['unix:uid:1001'];
const NOBODY_UID = ['unix:uid:1003'];

const uriSan = (pem: string) => new X509Certificate(pem).subjectAltName;

describe('SDS on the agent socket', () => {
  let agent: AgentFixture;
  let web: SecretDiscoveryServiceClient;
  let partnerRoot: Buffer;

  beforeAll(async () => {
    agent = await startAgentFixture();
    agent.source.register({ selectors: WEB_UID }, [WEB, WEB_ADMIN]);
    await agent.endpoints.update([WEB_UID, NOBODY_UID]);
    web = sdsClient(agent.endpoints.socketPath(WEB_UID));
    // Any real root will do as a federated trust domain's bundle: take another CA's.
    partnerRoot = agent.source.ownBundle().rootsDer[0]!;
    agent.source.setFederatedBundle(PARTNER, [partnerRoot]);
  });

  afterAll(async () => {
    web?.close();
    await agent?.close();
  });

  const first = async (names: string[], node?: Parameters<SdsStreamClient['request']>[1]) => {
    const stream = new SdsStreamClient(web);
    stream.request(names, node);
    try {
      return await stream.waitFor(1);
    } finally {
      stream.cancel();
    }
  };

  it('serves `default` as the caller\'s default SVID: chain leaf first without the root, and its key', async () => {
    const response = await first(['default']);
    expect(response).toMatchObject({ type_url: SECRET_TYPE_URL, nonce: expect.any(String), version_info: expect.any(String) });
    const [secret] = response.resources;
    expect(secret).toMatchObject({ '@type': SECRET_TYPE_URL, name: 'default' });
    const chain = pemBlocks(secret!.tls_certificate!.certificate_chain.inline_bytes.toString());
    expect(chain).toHaveLength(2);
    const [leaf, intermediate] = chain.map((pem) => new X509Certificate(pem));
    expect(leaf!.subjectAltName).toBe(`URI:${WEB}`);
    expect(leaf!.checkIssued(intermediate!)).toBe(true);
    expect(leaf!.checkPrivateKey(createPrivateKey(secret!.tls_certificate!.private_key.inline_bytes))).toBe(true);
    const root = new X509Certificate(agent.source.ownBundle().rootsDer[0]!);
    expect(intermediate!.verify(root.publicKey)).toBe(true);
  });

  it('serves `ROOTCA` as a SPIFFE validator context holding only the own trust domain, named without scheme', async () => {
    const [secret] = (await first(['ROOTCA'])).resources;
    expect(secret!.validation_context!.custom_validator_config).toMatchObject({
      name: 'envoy.tls.cert_validator.spiffe',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
        trust_domains: [{ name: TRUST_DOMAIN, trust_bundle: { inline_bytes: Buffer.from(agent.source.ownBundle().rootsPem) } }],
      },
    });
  });

  it('serves `ALL` with every trust domain separately, and `spiffe://<td>` with that one only', async () => {
    const response = await first(['ALL', PARTNER]);
    const names = (s: DecodedSecret) => s.validation_context!.custom_validator_config!.typed_config.trust_domains.map((t) => t.name);
    expect(response.resources.map((s) => [s.name, names(s)])).toEqual([
      ['ALL', [TRUST_DOMAIN, 'partner.test']],
      [PARTNER, ['partner.test']],
    ]);
  });

  it('serves a named identity the caller holds, and refuses one it does not', async () => {
    const [secret] = (await first([WEB_ADMIN])).resources;
    expect(secret!.name).toBe(WEB_ADMIN);
    expect(uriSan(secret!.tls_certificate!.certificate_chain.inline_bytes.toString())).toBe(`URI:${WEB_ADMIN}`);

    const stream = new SdsStreamClient(web);
    stream.request([`spiffe://${TRUST_DOMAIN}/ns/shop/sa/payments`]);
    const err = await stream.failure();
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain('holds no SVID for spiffe://meshid.test/ns/shop/sa/payments');
  });

  it('serves everything the caller has for an empty name list', async () => {
    const response = await first([]);
    expect(response.resources.map((s) => s.name)).toEqual(['default', WEB, WEB_ADMIN, 'ROOTCA', 'ALL', `spiffe://${TRUST_DOMAIN}`, PARTNER]);
  });

  it('serves plain trusted_ca roots when the node metadata asks for them', async () => {
    const node = { id: 'legacy', metadata: { fields: { 'meshid.validation': { stringValue: 'trusted_ca' } } } };
    const [secret] = (await first(['ALL'], node)).resources;
    expect(secret!.validation_context!.custom_validator_config).toBeNull();
    const roots = secret!.validation_context!.trusted_ca!.inline_bytes.toString();
    expect(roots).toBe(agent.source.ownBundle().rootsPem + new X509Certificate(partnerRoot).toString());
  });

  it('refuses an unknown resource name, a bad validation mode and a foreign type URL with INVALID_ARGUMENT', async () => {
    const refusal = async (write: (s: SdsStreamClient) => void) => {
      const stream = new SdsStreamClient(web);
      write(stream);
      return stream.failure();
    };
    const badName = await refusal((s) => s.request(['server-cert']));
    expect([badName.code, badName.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('unknown SDS resource name "server-cert"')]);
    const badMode = await refusal((s) => s.request(['ROOTCA'], { id: 'x', metadata: { fields: { 'meshid.validation': { stringValue: 'pinned' } } } }));
    expect([badMode.code, badMode.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('meshid.validation')]);
  });

  it('refuses a caller without any identity with PERMISSION_DENIED', async () => {
    const nobody = sdsClient(agent.endpoints.socketPath(NOBODY_UID));
    const stream = new SdsStreamClient(nobody);
    stream.request(['default']);
    const err = await stream.failure();
    expect([err.code, err.details]).toEqual([grpc.status.PERMISSION_DENIED, 'no registration entry matches this caller']);
    nobody.close();
  });

  it('answers FetchSecrets, and NOT_FOUND when nothing requested exists', async () => {
    const response = (await unaryCall(web.FetchSecrets.bind(web), { resource_names: ['default', 'ROOTCA'], type_url: SECRET_TYPE_URL }, new grpc.Metadata())) as unknown as { resources: DecodedSecret[]; version_info: string };
    expect(response.resources.map((s) => s.name)).toEqual(['default', 'ROOTCA']);
    expect(response.version_info).toMatch(/^[0-9a-f]{20}$/);
    const missing = await unaryCall(web.FetchSecrets.bind(web), { resource_names: ['spiffe://unknown.test'] }, new grpc.Metadata()).catch((e: grpc.ServiceError) => e);
    expect((missing as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers DeltaSecrets with UNIMPLEMENTED and says what to use instead', async () => {
    const call = web.DeltaSecrets();
    const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    expect([err.code, err.details]).toEqual([grpc.status.UNIMPLEMENTED, expect.stringContaining('use StreamSecrets')]);
  });

  it('pushes a rotated certificate once the previous response was ACKed, and counts NACKs', async () => {
    const stream = new SdsStreamClient(web);
    stream.request(['default']);
    const before = await stream.waitFor(1);
    await agent.source.rotate();
    // A round trip on the same connection: had the agent pushed before the ACK, it would have arrived by now.
    await unaryCall(web.FetchSecrets.bind(web), { resource_names: ['ROOTCA'] }, new grpc.Metadata());
    expect(stream.responses).toHaveLength(1);
    stream.answer(['default']);
    const rotated = await stream.waitFor(2);
    expect(rotated.version_info).not.toBe(before.version_info);
    expect(rotated.nonce).not.toBe(before.nonce);
    const serial = (r: typeof before) => new X509Certificate(r.resources[0]!.tls_certificate!.certificate_chain.inline_bytes).serialNumber;
    expect(serial(rotated)).not.toBe(serial(before));

    const nacksBefore = await agent.metric('meshid_agent_sds_nacks_total');
    stream.answer(['default'], 'private key does not match');
    await pollUntil(() => agent.metric('meshid_agent_sds_nacks_total'), (n) => n === nacksBefore + 1, 'the NACK to be counted');
    expect(agent.logs.text()).toContain('private key does not match');
    await agent.source.rotate(); // new content after a NACK is sent again
    expect((await stream.waitFor(3)).version_info).not.toBe(rotated.version_info);
    stream.cancel();
  });

  it('tracks streams and releases them when the client goes away', async () => {
    const streams = Array.from({ length: 5 }, () => new SdsStreamClient(web));
    for (const s of streams) s.request(['ROOTCA']);
    await Promise.all(streams.map((s) => s.waitFor(1)));
    expect(await agent.metric('meshid_agent_sds_streams')).toBe(5);
    for (const s of streams) s.cancel();
    await pollUntil(() => agent.metric('meshid_agent_sds_streams'), (n) => n === 0, 'streams to be released');
  });
});
