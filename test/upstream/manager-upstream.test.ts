import { fingerprint } from '../../core/x509/chain.js';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthorityManager, type AuthorityChange } from '../../ca-server/authority/manager.js';
import { rotationSchedule } from '../../ca-server/authority/schedule.js';
import { SqliteDataStore } from '../../ca-server/datastore/sqlite.js';
import { MeshidError } from '../../core/errors.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { createCaCertificate, type CaIssuer } from '../../core/x509/ca-cert.js';
import { x509 } from '../../core/x509/peculiar.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../../plugins/api/upstream-authority.js';
import { makeRoot } from '../authority/upstream-double.js';

const td = TrustDomain.parse('example.org');

/** An upstream whose signing CA can be swapped (as the files plugin does on reload), and that can be told to fail. */
class SwappableUpstream implements UpstreamAuthority {
  readonly name = 'swappable';
  readonly attempts: number[] = [];
  failWith: Error | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private issuer: CaIssuer,
    private roots: x509.X509Certificate[],
  ) {}

  async start(): Promise<void> {}

  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    this.attempts.push(Date.now());
    if (this.failWith) throw this.failWith;
    const csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    const now = Date.now();
    const certificate = await createCaCertificate({
      subject: csr.subject,
      publicKey: createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }),
      notBefore: new Date(now - 10_000),
      notAfter: new Date(now + request.preferredTtlSeconds * 1000),
      trustDomain: request.trustDomain,
      pathLength: 0,
      issuer: this.issuer,
    });
    const chain = this.roots.some((r) => fingerprint(r) === fingerprint(this.issuer.certificate)) ? [] : [this.issuer.certificate];
    return { x509CaChain: [certificate, ...chain], upstreamRoots: this.roots };
  }

  /** Signs with another CA from now on and tells the manager. */
  swap(issuer: CaIssuer, roots: x509.X509Certificate[]): void {
    this.issuer = issuer;
    this.roots = roots;
    for (const listener of this.listeners) listener();
  }

  onRootsChanged(): () => void {
    return () => undefined;
  }

  onUpstreamChanged(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {}
}

async function subCa(root: CaIssuer, subject: string): Promise<CaIssuer> {
  const ca = await makeRoot(new Date(), subject);
  const certificate = await createCaCertificate({
    subject,
    publicKey: createPublicKey(ca.privateKey),
    notBefore: new Date(Date.now() - 10_000),
    notAfter: new Date(Date.now() + 365 * 86400_000),
    pathLength: 1,
    issuer: root,
  });
  return { certificate, privateKey: ca.privateKey };
}

describe('AuthorityManager with an upstream that changes or fails', () => {
  let dataDir: string;
  let store: SqliteDataStore;
  let manager: AuthorityManager | undefined;
  const errors: unknown[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-mu-'));
    store = SqliteDataStore.open(':memory:');
    errors.length = 0;
  });
  afterEach(async () => {
    await manager?.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (upstream: UpstreamAuthority, checkIntervalMs = 60_000) => {
    manager = new AuthorityManager({ dataDir, trustDomain: td, store, upstream, checkIntervalMs, intermediateTtlSeconds: 3600, onError: (e) => errors.push(e) });
    await manager.start();
    return manager;
  };
  const nextChange = (m: AuthorityManager) =>
    new Promise<AuthorityChange>((resolve) => {
      const unsubscribe = m.onChange((change) => {
        unsubscribe();
        resolve(change);
      });
    });

  it('signs under a new upstream CA at once when its roots are already trusted', async () => {
    const root = await makeRoot(new Date(), 'CN=operator root');
    const first = await subCa(root, 'CN=operator CA 1');
    const upstream = new SwappableUpstream(first, [root.certificate]);
    const m = await start(upstream);
    const before = m.active();
    expect(before.chainDer[1]).toEqual(Buffer.from(first.certificate.rawData));

    const changed = nextChange(m);
    const second = await subCa(root, 'CN=operator CA 2');
    upstream.swap(second, [root.certificate]);
    const change = await changed;
    expect([change.activeChanged, change.bundleChanged]).toEqual([true, false]);
    expect(m.active().chainDer[1]).toEqual(Buffer.from(second.certificate.rawData));
    const records = await store.listAuthorities({ kind: 'intermediate' });
    expect(records.find((r) => r.id === before.id)?.state).toBe('retired');
  });

  it('publishes a new upstream root first, replacing a prepared authority minted from the old CA', async () => {
    const root = await makeRoot(new Date(), 'CN=old root');
    const upstream = new SwappableUpstream(root, [root.certificate]);
    const m = await start(upstream);
    const active = m.active();
    const stale = (await m.rotateIntermediateIfDue(rotationSchedule(active.certificate).prepareAt)).prepared!;

    const changed = nextChange(m);
    const newRoot = await makeRoot(new Date(), 'CN=new root');
    upstream.swap(newRoot, [newRoot.certificate]);
    const change = await changed;
    expect([change.activeChanged, change.bundleChanged]).toEqual([false, true]);
    expect(change.bundle.roots.map(fingerprint).sort()).toEqual([root.certificate, newRoot.certificate].map(fingerprint).sort());
    expect(m.active().id).toBe(active.id);
    const records = await store.listAuthorities({ kind: 'intermediate' });
    expect(records.find((r) => r.id === stale)?.state).toBe('retired');
    const prepared = records.find((r) => r.state === 'prepared')!;
    expect(prepared.upstreamRootsPem).toBe(`${newRoot.certificate.toString('pem')}\n`);
  });

  it('retries a failed upstream change on the next check', async () => {
    const root = await makeRoot(new Date(), 'CN=root');
    const upstream = new SwappableUpstream(root, [root.certificate]);
    const m = await start(upstream, 100);
    upstream.failWith = new MeshidError('UNAVAILABLE', 'upstream down');
    const second = await subCa(root, 'CN=operator CA 2');
    const changed = nextChange(m);
    upstream.swap(second, [root.certificate]);
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    upstream.failWith = undefined;
    expect((await changed).activeChanged).toBe(true);
    expect(m.active().chainDer[1]).toEqual(Buffer.from(second.certificate.rawData));
  });

  it('backs off after failed checks: each wait doubles', async () => {
    const root = await makeRoot(new Date(), 'CN=root');
    const upstream = new SwappableUpstream(root, [root.certificate]);
    await start(upstream, 60);
    upstream.failWith = new MeshidError('UNAVAILABLE', 'upstream down');
    upstream.attempts.length = 0;
    // Make the next signing CA due, so every check asks the (failing) upstream.
    upstream.swap(root, [root.certificate]);
    await expect.poll(() => upstream.attempts.length, { timeout: 5000 }).toBeGreaterThanOrEqual(5);
    const gaps = upstream.attempts.slice(1).map((t, i) => t - upstream.attempts[i]!);
    // The swap triggers an attempt between timer checks; the first timer check fails after the plain 60 ms
    // interval, then the waits double: 120, 240, 480 ms.
    expect(gaps[1]).toBeGreaterThanOrEqual(115);
    expect(gaps[2]).toBeGreaterThanOrEqual(235);
    expect(gaps[3]).toBeGreaterThanOrEqual(475);
    expect(errors.every((e) => (e as MeshidError).code === 'UNAVAILABLE')).toBe(true);
  });
});
