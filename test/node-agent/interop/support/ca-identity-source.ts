// A test IdentitySource backed by a real in-process CA server (until the agent core serves this contract):
// X509-SVIDs for keys generated here, signed by the CA's own issuer from real CSRs; JWT-SVIDs signed by the
// CA's JWT issuer with the keys its bundle publishes. Rotation and bundle changes happen on demand.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCaServerConfig } from '../../../../ca-server/config.js';
import { JwtSvidIssuer } from '../../../../ca-server/issuance/jwt-svid-issuer.js';
import { X509SvidIssuer } from '../../../../ca-server/issuance/x509-svid-issuer.js';
import { startCaServer, type CaServer } from '../../../../ca-server/server.js';
import { MeshidError, permissionDenied } from '../../../../core/errors.js';
import { createLogger } from '../../../../core/log.js';
import { SpiffeId } from '../../../../core/spiffeid.js';
import { createCsrPem } from '../../../../core/x509/csr-request.js';
import { generateKeyPair, privateKeyToPem, privateKeyToPkcs8Der } from '../../../../core/x509/keys.js';
import { dersToPem } from '../../../../core/x509/pem.js';
import type {
  IdentitySource,
  JwtSvidMaterial,
  TrustBundleMaterial,
  WorkloadCaller,
  X509SvidMaterial,
} from '../../../../node-agent/identity-source.js';

export const TRUST_DOMAIN = 'meshid.test';

/** Who gets which identities: selectors the caller must all have (VM), or a token it must present (k8s). */
export type EntryMatch = { selectors: string[] } | { token: string };

export interface CaIdentitySource extends IdentitySource {
  readonly ca: CaServer;
  /** Gives callers matching `match` the identities `spiffeIds` (in this order, after earlier entries). */
  register(match: EntryMatch, spiffeIds: string[]): void;
  /** Re-issues every SVID handed out so far and tells the watchers. */
  rotate(): Promise<void>;
  /** Adds, replaces (roots given) or removes (undefined) a federated trust domain's bundle. */
  setFederatedBundle(trustDomainId: string, rootsDer: Buffer[] | undefined): void;
  /** Makes every SVID lookup fail with `err` (e.g. UNAVAILABLE), or succeed again (undefined). */
  failLookups(err: MeshidError | undefined): void;
  /** Number of X509-SVIDs minted so far (each is a real CSR signed by the CA). */
  readonly minted: number;
  close(): Promise<void>;
}

export async function startCaIdentitySource(options: { svidTtlSeconds?: number } = {}): Promise<CaIdentitySource> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshid-agent-ca-'));
  const config = readCaServerConfig({
    trustDomain: TRUST_DOMAIN,
    dataDir: path.join(dir, 'data'),
    logLevel: 'warn',
    listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'admin.sock') },
  });
  const ca = await startCaServer(config, createLogger({ name: 'meshid-ca', level: 'warn' }));
  const x509Issuer = new X509SvidIssuer(ca.authorities, {
    defaultTtlSeconds: options.svidTtlSeconds ?? 600,
    maxTtlSeconds: 3600,
    subject: '',
  });
  const jwtIssuer = new JwtSvidIssuer(ca.jwtKeys, { defaultTtlSeconds: 300, maxTtlSeconds: 3600 });

  const entries: { match: EntryMatch; spiffeIds: string[] }[] = [];
  const svids = new Map<string, X509SvidMaterial>();
  const federated = new Map<string, TrustBundleMaterial>();
  const svidWatchers = new Set<{ caller: WorkloadCaller; listener: (svids: X509SvidMaterial[]) => void }>();
  const bundleWatchers = new Set<() => void>();
  let lookupFailure: MeshidError | undefined;
  let minted = 0;

  const mint = async (spiffeId: string): Promise<X509SvidMaterial> => {
    const keys = generateKeyPair();
    const csrPem = createCsrPem({ ...keys, spiffeId: SpiffeId.parse(spiffeId) });
    const issued = await x509Issuer.issue({ csrPem, spiffeId: SpiffeId.parse(spiffeId) });
    minted++;
    return {
      spiffeId,
      chainDer: issued.chainDer,
      chainPem: dersToPem(issued.chainDer),
      privateKeyDer: privateKeyToPkcs8Der(keys.privateKey),
      privateKeyPem: privateKeyToPem(keys.privateKey),
      notAfter: issued.notAfter,
    };
  };

  const matches = (match: EntryMatch, caller: WorkloadCaller) =>
    'token' in match
      ? caller.kind === 'k8s-token' && caller.token === match.token
      : caller.kind === 'unix' && match.selectors.every((s) => caller.selectors.includes(s));

  const idsFor = (caller: WorkloadCaller) => [
    ...new Set(entries.filter((e) => matches(e.match, caller)).flatMap((e) => e.spiffeIds)),
  ];

  const x509Svids = async (caller: WorkloadCaller): Promise<X509SvidMaterial[]> => {
    if (lookupFailure) throw lookupFailure;
    const ids = idsFor(caller);
    if (ids.length === 0) throw permissionDenied('no registration entry matches this caller', 'no_identity');
    const result: X509SvidMaterial[] = [];
    for (const id of ids) {
      let svid = svids.get(id);
      if (!svid) {
        svid = await mint(id);
        svids.set(id, svid);
      }
      result.push(svid);
    }
    return result;
  };

  // Converted once per CA bundle (the CA replaces the object on every change), as an agent would cache it.
  let own: { from: ReturnType<CaServer['bundle']>; material: TrustBundleMaterial } | undefined;
  const ownBundle = (): TrustBundleMaterial => {
    const bundle = ca.bundle();
    if (own?.from !== bundle) {
      own = {
        from: bundle,
        material: {
          trustDomainId: bundle.trustDomain.id,
          rootsDer: [...bundle.x509Authorities],
          rootsPem: bundle.toPem(),
          jwks: JSON.stringify(bundle.toJwks()),
          sequence: bundle.sequence ?? 0,
        },
      };
    }
    return own.material;
  };

  return {
    ca,
    get minted() {
      return minted;
    },
    x509Svids,
    watchX509Svids(caller, listener) {
      const watcher = { caller, listener };
      svidWatchers.add(watcher);
      return () => svidWatchers.delete(watcher);
    },
    bundles() {
      const own = ownBundle();
      return new Map([[own.trustDomainId, own], ...federated]);
    },
    ownBundle,
    watchBundles(listener) {
      bundleWatchers.add(listener);
      return () => bundleWatchers.delete(listener);
    },
    async jwtSvids(caller, audience, spiffeId): Promise<JwtSvidMaterial[]> {
      if (lookupFailure) throw lookupFailure;
      const ids = idsFor(caller).filter((id) => spiffeId === undefined || id === spiffeId);
      if (ids.length === 0) throw permissionDenied(`no matching identity for this caller`, 'no_identity');
      return Promise.all(ids.map((id) => jwtIssuer.issue({ spiffeId: SpiffeId.parse(id), audience })));
    },
    register(match, spiffeIds) {
      entries.push({ match, spiffeIds });
    },
    async rotate() {
      for (const id of [...svids.keys()]) svids.set(id, await mint(id));
      for (const { caller, listener } of [...svidWatchers]) {
        const current = await x509Svids(caller).catch(() => undefined);
        if (current) listener(current);
      }
    },
    setFederatedBundle(trustDomainId, rootsDer) {
      if (rootsDer) {
        federated.set(trustDomainId, {
          trustDomainId,
          rootsDer,
          rootsPem: dersToPem(rootsDer),
          jwks: JSON.stringify({ keys: [] }),
          sequence: Date.now(),
        });
      } else {
        federated.delete(trustDomainId);
      }
      for (const listener of [...bundleWatchers]) listener();
    },
    failLookups(err) {
      lookupFailure = err;
    },
    async close() {
      await ca.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
