// Shared by the root rotation tests against a real CA: short-lived SVIDs so a whole rotation fits in
// seconds, a fixed gRPC port so agents find a restarted CA, the admin calls, and chain checks.
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { subjectKeyIdentifier } from '../../core/x509/keys.js';
import type { AdminServiceClient } from '../../protos/gen/meshid/v1/AdminService.js';
import type { RootRotationStatus__Output } from '../../protos/gen/meshid/v1/RootRotationStatus.js';
import { CaFixture, rpc } from '../ca-server/fixture.js';

/** svid.maxTtl caps workload, agent and serving SVIDs: the old root may be retired this long after activation. */
export const MAX_SVID_TTL_SECONDS = 8;

/** A CA on `dataDir` and `port` with 8-second SVIDs; call again with the same arguments to restart it. */
export function startRotationCa(dataDir: string, port: number): Promise<CaFixture> {
  const ttl = `${MAX_SVID_TTL_SECONDS}s`;
  return CaFixture.start({
    kubernetes: 'disabled',
    dataDir,
    config: {
      svid: { defaultTtl: ttl, maxTtl: ttl },
      agentSvidTtl: ttl,
      ca: { intermediateTtl: '1h' },
      listen: { grpc: `127.0.0.1:${port}`, metrics: '127.0.0.1:0', adminSocket: path.join(dataDir, '..', 'admin.sock') },
    },
  });
}

export const rotate = {
  status: (admin: AdminServiceClient): Promise<RootRotationStatus__Output> => rpc(admin, admin.GetRootRotation, {}),
  prepare: (admin: AdminServiceClient): Promise<RootRotationStatus__Output> => rpc(admin, admin.PrepareRootRotation, {}),
  activate: (admin: AdminServiceClient, force = false): Promise<RootRotationStatus__Output> => rpc(admin, admin.ActivateRootRotation, { force }),
  retire: (admin: AdminServiceClient, force = false): Promise<RootRotationStatus__Output> => rpc(admin, admin.RetireRootRotation, { force }),
};

/** The root with this journal id, as DER, from the CA's bundle. */
export function rootDer(ca: CaFixture, id: string): Buffer {
  const root = ca.server.authorities.trustBundle().roots.find((r) => idOf(Buffer.from(r.rawData)) === id);
  if (!root) throw new Error(`root ${id} is not in the CA's bundle`);
  return Buffer.from(root.rawData);
}

/** Journal id of a certificate's key (hex SKI, RFC 5280 method 1). */
export function idOf(der: Buffer): string {
  return subjectKeyIdentifier(new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
}

/** Whether a chain (leaf first, roots excluded) ends in a certificate `root` signed. */
export function chainsTo(chainDer: readonly Buffer[], root: Buffer): boolean {
  const last = new X509Certificate(chainDer.at(-1)!);
  const anchor = new X509Certificate(root);
  return last.checkIssued(anchor) && last.verify(anchor.publicKey);
}

/** Resolves at wall-clock time `at` (the CA compares against real time: nothing to await but the clock). */
export function until(at: Date): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at.getTime() - Date.now())));
}
