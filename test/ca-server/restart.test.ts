import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaFixture, derToPem, expectStatus, LogCapture, newCsr, rpc, TRUST_DOMAIN, type ClientIdentity } from './fixture.js';

/** Stopping the CA and starting a new one on the same data dir keeps the root, the signing CA and the state. */

let dataDirForRestart: string;
const logs = new LogCapture();

beforeAll(async () => {
  dataDirForRestart = path.join(await mkdtemp(path.join(tmpdir(), 'meshid-restart-')), 'data');
});

afterAll(async () => {
  await rm(path.dirname(dataDirForRestart), { recursive: true, force: true });
});

describe('restart on the same data dir', () => {
  it('keeps the root and intermediate bytes, the agents, and spent join tokens', async () => {
    const dataDir = dataDirForRestart;
    const first = await CaFixture.start({ kubernetes: 'disabled', dataDir, logs });
    const rootsBefore = first.server.bundle().x509Authorities.map((der) => Buffer.from(der));
    const intermediateBefore = Buffer.from(first.server.authorities.active().certificateDer);
    const bundleFileBefore = await readFile(first.server.bundleFile, 'utf8');

    const admin = first.adminClient();
    const anonymous = first.agentClient();
    const token = await rpc(admin, admin.CreateJoinToken, { spiffe_id: `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-1`, ttl_seconds: 600 });
    const { csr, keyPem } = await newCsr();
    const attested = await rpc(anonymous, anonymous.AttestAgent, { join_token: token.value, csr });
    const identity: ClientIdentity = { certChainPem: attested.svid!.cert_chain.map(derToPem).join(''), keyPem };
    admin.close();
    anonymous.close();
    await first.close();

    const second = await CaFixture.start({ kubernetes: 'disabled', dataDir, logs });
    try {
      expect(second.server.bundle().x509Authorities).toEqual(rootsBefore);
      expect(Buffer.from(second.server.authorities.active().certificateDer)).toEqual(intermediateBefore);
      expect(await readFile(second.server.bundleFile, 'utf8')).toBe(bundleFileBefore);

      // The agent SVID issued before the restart still authenticates the agent.
      const agent = second.agentClient(identity);
      const renewed = await rpc(agent, agent.RenewAgent, { csr: (await newCsr()).csr });
      agent.close();
      expect(renewed.svid!.spiffe_id).toBe(`spiffe://${TRUST_DOMAIN}/meshid/agent/vm-1`);
      expect(new X509Certificate(renewed.svid!.cert_chain[1]!).raw).toEqual(intermediateBefore);

      // A join token spent before the restart stays spent.
      const anonymous2 = second.agentClient();
      await expectStatus(
        rpc(anonymous2, anonymous2.AttestAgent, { join_token: token.value, csr: (await newCsr()).csr }),
        status.UNAUTHENTICATED,
        /has already been used/,
      );
      anonymous2.close();
    } finally {
      await second.close();
    }
  });

  it('keeps every private key in the data dir owner-only (0600)', async () => {
    const dataDir = path.join(path.dirname(dataDirForRestart), 'keys');
    await (await CaFixture.start({ kubernetes: 'disabled', dataDir })).close();
    const keyFiles: string[] = [];
    for (const file of await readdir(dataDir, { recursive: true })) {
      const full = path.join(dataDir, file);
      if ((await stat(full)).isFile() && (await readFile(full, 'utf8')).includes('PRIVATE KEY')) keyFiles.push(full);
    }
    expect(keyFiles.length).toBeGreaterThanOrEqual(2); // root and intermediate (and JWT keys)
    for (const file of keyFiles) expect({ file, mode: (await stat(file)).mode & 0o777 }).toEqual({ file, mode: 0o600 });
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
  });
});
