// VM mode against a real CA: join-token bootstrap, persisted agent SVID (0600) so a restart needs no token,
// and the refusals a user can act on (no token, bad token, expired or insecure persisted files).
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import { checkX509SvidProfile } from '../x509/svid-profile.js';
import { privateKeyToPem } from '../../core/x509/keys.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import { CaFixture } from '../ca-server/fixture.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { X509SVIDResponse__Output } from '../../protos/gen/X509SVIDResponse.js';
import type { ProtoGrpcType as WorkloadProto } from '../../protos/gen/workload.js';
import { loadProto } from '../../protos/load.js';
import { issueLeafSvid, newRootAuthority } from '../peers/svid-fixtures.js';
import { agentConfig, createEntry, createJoinToken, LogCapture, startAgent, tempDir, TRUST_DOMAIN } from './agent-fixture.js';

let ca: CaFixture;
let admin: AdminServiceClient;
let root: string;
const agents: NodeAgent[] = [];

beforeAll(async () => {
  root = await tempDir();
  ca = await CaFixture.start({ kubernetes: 'disabled' });
  admin = ca.adminClient();
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  admin?.close();
  await ca?.close();
  await rm(root, { recursive: true, force: true });
});

async function started(promise: Promise<NodeAgent>): Promise<NodeAgent> {
  const agent = await promise;
  agents.push(agent);
  return agent;
}

const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe('VM bootstrap with a join token', () => {
  it('attests, persists the agent SVID and key 0600 with the bundle, and is ready', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-first');
    const logs = new LogCapture();
    const agent = await started(startAgent(agentConfig(ca, dir, { joinToken: token.value }), logs));

    const svid = agent.identity.current()!;
    expect(svid.spiffeId).toBe(token.spiffeId);
    expect(
      checkX509SvidProfile(svid.chainDer, {
        expectedSpiffeId: token.spiffeId,
        trustDomain: TrustDomain.parse(TRUST_DOMAIN),
        privateKey: svid.privateKey,
        roots: [...ca.server.bundle().x509Authorities],
        now: new Date(),
      }),
    ).toEqual([]);

    const dataDir = agent.config.dataDir;
    expect(await mode(dataDir)).toBe(0o700);
    expect(await mode(path.join(dataDir, 'key.pem'))).toBe(0o600);
    expect(await mode(path.join(dataDir, 'svid.pem'))).toBe(0o600);
    expect(await readFile(path.join(dataDir, 'svid.pem'), 'utf8')).toBe(svid.chainPem);
    await expect.poll(() => readFile(path.join(dataDir, 'bundle.pem'), 'utf8').catch(() => '')).toBe(ca.bundlePem());
    expect(agent.bundles.current()!.rootsPem).toBe(ca.bundlePem());

    const readyz = await fetch(`http://127.0.0.1:${agent.opsPort}/readyz`);
    expect(readyz.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${agent.opsPort}/metrics`)).text();
    expect(metrics).toMatch(/meshid_agent_svid_expiry_seconds\{kind="agent"\} \d+/);
    expect(logs.text()).not.toContain(token.value);
  });

  it('restarts from the persisted SVID without a join token, and without attesting again', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-restart');
    const first = await startAgent(agentConfig(ca, dir, { joinToken: token.value }));
    const before = first.identity.current()!;
    await first.close();

    const again = await started(startAgent(agentConfig(ca, dir)));
    const after = again.identity.current()!;
    expect(after.spiffeId).toBe(token.spiffeId);
    expect(new X509Certificate(after.chainDer[0]!).serialNumber).toBe(new X509Certificate(before.chainDer[0]!).serialNumber);
    // The persisted bundle answers before the CA stream does; the CA still accepts the persisted SVID over mTLS.
    expect(again.bundles.current()!.rootsPem).toBe(ca.bundlePem());
    await expect(again.entries!.refresh()).resolves.toBeUndefined();
    expect(again.notReady()).toBeNull();
  });

  it('ignores a join token given again when a valid SVID is persisted (the token stays unused)', async () => {
    const dir = await tempDir(root);
    const first = await createJoinToken(admin, '/meshid/agent/vm-token-again');
    await (await startAgent(agentConfig(ca, dir, { joinToken: first.value }))).close();
    const unused = await createJoinToken(admin, '/meshid/agent/vm-token-unused');
    const logs = new LogCapture();
    const agent = await started(startAgent(agentConfig(ca, dir, { joinToken: unused.value }), logs));
    expect(agent.identity.current()!.spiffeId).toBe(first.spiffeId);
    expect(logs.text()).toContain('the join token was not needed');
  });
});

describe('workload sockets', () => {
  it('serves the Workload API on the socket of each entry selector set, with that entry\'s SVID', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-sockets');
    const uid = process.getuid!();
    const spiffeId = `spiffe://${TRUST_DOMAIN}/vm/socket-user`;
    await createEntry(admin, { spiffeId, parentId: token.spiffeId, selectors: [`unix:uid:${uid}`] });
    const agent = await started(startAgent(agentConfig(ca, dir, { joinToken: token.value }), new LogCapture(), true));
    await agent.entries!.refresh();
    await agent.endpoints!.update(agent.entries!.selectorSets()); // queued behind the update the refresh triggered

    const socket = agent.endpoints!.socketPath([`unix:uid:${uid}`]);
    expect((await stat(socket)).isSocket()).toBe(true);
    const proto = loadProto<WorkloadProto>('spiffe/workload.proto');
    const client = new proto.SpiffeWorkloadAPI(`unix:${socket}`, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set('workload.spiffe.io', 'true');
      const stream = client.FetchX509SVID({}, metadata);
      stream.on('error', () => undefined); // the CANCELLED our cancel() causes
      const [first] = (await once(stream, 'data')) as [X509SVIDResponse__Output];
      stream.cancel();
      expect(first.svids.map((s) => s.spiffe_id)).toEqual([spiffeId]);
    } finally {
      client.close();
    }
  });
});

describe('VM bootstrap refusals', () => {
  it('asks for a join token when nothing is persisted', async () => {
    const dir = await tempDir(root);
    await expect(startAgent(agentConfig(ca, dir))).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/no agent SVID in .* and no join token: create one with "meshid token create" and pass --join-token/),
    });
  });

  it('reports an unknown join token as UNAUTHENTICATED without echoing it', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-bad');
    const forged = `${token.value.slice(0, -4)}AAAA`;
    const err = await startAgent(agentConfig(ca, dir, { joinToken: forged })).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/^CA refused AttestAgent: /) });
    expect((err as Error).message).not.toContain(forged);
  });

  it('refuses a used join token', async () => {
    const token = await createJoinToken(admin, '/meshid/agent/vm-used');
    await (await startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value }))).close();
    await expect(startAgent(agentConfig(ca, await tempDir(root), { joinToken: token.value }))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/already been used|used/),
    });
  });

  it('refuses an expired persisted SVID and asks for a new join token', async () => {
    const dir = await tempDir(root);
    const config = agentConfig(ca, dir);
    const issuer = await newRootAuthority(TrustDomain.parse(TRUST_DOMAIN));
    const expired = await issueLeafSvid(issuer, `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-old`, -1000);
    await mkdir(config.dataDir, { mode: 0o700 });
    await writeFile(path.join(config.dataDir, 'key.pem'), privateKeyToPem(expired.keys.privateKey), { mode: 0o600 });
    await writeFile(path.join(config.dataDir, 'svid.pem'), expired.certificate.toString('pem'), { mode: 0o600 });
    await expect(startAgent(config)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/spiffe:\/\/meshid\.test\/meshid\/agent\/vm-old\) expired at .*create a new join token .*--join-token/),
    });
  });

  it('refuses a persisted key that group or others can read', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-insecure');
    const agent = await startAgent(agentConfig(ca, dir, { joinToken: token.value }));
    await agent.close();
    await chmod(path.join(agent.config.dataDir, 'key.pem'), 0o644);
    await expect(startAgent(agentConfig(ca, dir))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'key_file_insecure' });
  });

  it('reports a torn pair (key without certificate)', async () => {
    const dir = await tempDir(root);
    const token = await createJoinToken(admin, '/meshid/agent/vm-torn');
    const agent = await startAgent(agentConfig(ca, dir, { joinToken: token.value }));
    await agent.close();
    await rm(path.join(agent.config.dataDir, 'svid.pem'));
    await expect(startAgent(agentConfig(ca, dir))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'agent_svid_corrupt' });
  });
});
