import { fingerprint } from '../../core/x509/chain.js';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCaCsrPem } from '../../ca-server/authority/ca-csr.js';
import { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';
import { FilesAuthority } from '../../plugins/upstream/files/files-authority.js';
import type { MintX509CaResult } from '../../plugins/api/upstream-authority.js';
import { requirePeer } from '../peers/peers.js';
import { LogEvents, nextCall } from './log-events.js';
import { layoutFiles, makeOperatorPki, pem, writeLayout, writeSecretVolume, type OperatorPki } from './operator-pki.js';

const run = promisify(execFile);
const td = TrustDomain.parse('mesh.acme.test');
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );
const ski = (cert: x509.X509Certificate) => cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
const aki = (cert: x509.X509Certificate) => cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;

let openssl: string;
let pki: OperatorPki;
let dir: string;
let work: string;
let logs: LogEvents;
let registry: Registry;
const authorities: FilesAuthority[] = [];

beforeAll(async () => {
  openssl = requirePeer('openssl');
  pki = await makeOperatorPki();
});

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'meshid-files-'));
  dir = path.join(work, 'cacerts');
  logs = new LogEvents();
  registry = new Registry();
});

afterEach(async () => {
  for (const a of authorities.splice(0)) await a.close();
  await rm(work, { recursive: true, force: true });
});

function make(over: { reloadDelayMs?: number; dir?: string; trustDomain?: string } = {}): FilesAuthority {
  const authority = new FilesAuthority({ dir, trustDomain: td, reloadDelayMs: 50, ...over }, { log: logs.logger, registry });
  authorities.push(authority);
  return authority;
}

async function mint(authority: FilesAuthority, ttlSeconds = 3600): Promise<MintX509CaResult> {
  const keys = generateKeyPair();
  const csrPem = await createCaCsrPem({ ...keys, subject: 'O=meshid, CN=meshid intermediate', trustDomain: td });
  return authority.mintX509Ca({ csrPem, trustDomain: td, preferredTtlSeconds: ttlSeconds });
}

/** openssl verify -x509_strict of meshid's signing CA against the roots, with the upstream intermediates untrusted. */
async function opensslVerify(result: MintX509CaResult): Promise<string> {
  const files = { roots: path.join(work, 'roots.pem'), chain: path.join(work, 'chain.pem'), ca: path.join(work, 'ca.pem') };
  await writeFile(files.roots, pem(...result.upstreamRoots));
  await writeFile(files.ca, pem(result.x509CaChain[0]!));
  const untrusted = result.x509CaChain.slice(1);
  await writeFile(files.chain, pem(...untrusted));
  const args = ['verify', '-x509_strict', '-CAfile', files.roots, ...(untrusted.length ? ['-untrusted', files.chain] : []), files.ca];
  return (await run(openssl, args)).stdout.trim();
}

describe('files upstream authority', () => {
  describe.each(['istio-cacerts', 'kubernetes-tls'] as const)('%s layout', (layout) => {
    it('signs meshid\'s CA with the operator CA key: AKI = operator SKI, chain up to (not including) the root', async () => {
      await writeLayout(dir, layoutFiles(pki, layout));
      const authority = make();
      await authority.start();
      const result = await mint(authority, 7 * 86400);
      const [ca, ...upstream] = result.x509CaChain;
      expect(upstream.map(fingerprint)).toEqual([pki.operator.certificate, pki.enterprise.certificate].map(fingerprint));
      expect(result.upstreamRoots.map(fingerprint)).toEqual([fingerprint(pki.root.certificate)]);
      expect(ca!.issuer).toBe(pki.operator.certificate.subject);
      expect(aki(ca!)).toBe(ski(pki.operator.certificate));
      const basic = ca!.getExtension(x509.BasicConstraintsExtension)!;
      expect([basic.ca, basic.pathLength]).toEqual([true, 0]);
      expect(ca!.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value)).toEqual([td.id]);
      expect(ca!.notAfter.getTime() - Date.now()).toBeGreaterThan(7 * 86400_000 - 60_000);
      expect(await opensslVerify(result)).toMatch(/ca\.pem: OK$/);
    });
  });

  it('reads a kubelet-style secret volume (..data symlinks)', async () => {
    await writeSecretVolume(dir, layoutFiles(pki, 'kubernetes-tls'));
    const authority = make();
    await authority.start();
    expect(await opensslVerify(await mint(authority))).toMatch(/OK$/);
  });

  it('signs directly under an operator CA that is itself the root', async () => {
    await writeLayout(dir, {
      'ca-cert.pem': pem(pki.root.certificate),
      'ca-key.pem': privateKeyToPem(pki.root.privateKey),
      'root-cert.pem': pem(pki.root.certificate),
    });
    const authority = make();
    await authority.start();
    const result = await mint(authority);
    expect(result.x509CaChain).toHaveLength(1);
    expect(aki(result.x509CaChain[0]!)).toBe(ski(pki.root.certificate));
    expect(await opensslVerify(result)).toMatch(/OK$/);
  });

  it('never outlives the operator CA', async () => {
    const shortLived = await makeOperatorPki({ root: pki.root, operatorTtlMs: 2 * 3600_000 });
    await writeLayout(dir, layoutFiles(shortLived, 'istio-cacerts'));
    const authority = make();
    await authority.start();
    const [ca] = (await mint(authority, 7 * 86400)).x509CaChain;
    expect(ca!.notAfter).toEqual(shortLived.operator.certificate.notAfter);
  });

  describe('refuses at start', () => {
    const startWith = async (files: Record<string, string>, keyMode?: number) => {
      await writeLayout(dir, files, keyMode);
      return failure(make().start());
    };

    it.each([0o640, 0o644, 0o604])('a key readable by group or others (mode %o), saying how to fix it', async (mode) => {
      const result = await startWith(layoutFiles(pki, 'istio-cacerts'), mode);
      expect(result.code).toBe('FAILED_PRECONDITION');
      expect(result.message).toContain(`chmod 600 ${path.join(dir, 'ca-key.pem')}`);
      expect(result.message).toContain('defaultMode: 0400');
    });

    it('a key that is not the operator CA\'s, without echoing key material', async () => {
      const other = generateKeyPair().privateKey;
      const result = await startWith(layoutFiles(pki, 'kubernetes-tls', other));
      expect(result).toEqual({ code: 'FAILED_PRECONDITION', message: `files upstream authority: ${dir}/tls.key is not the key of ${dir}/tls.crt` });
    });

    it('an operator CA with pathLen 0 (it could not sign meshid\'s CA)', async () => {
      const pathLen0 = await makeOperatorPki({ root: pki.root, operatorPathLength: 0 });
      expect((await startWith(layoutFiles(pathLen0, 'istio-cacerts'))).message).toContain('has pathLenConstraint 0, so it cannot sign meshid\'s signing CA');
    });

    it('an expired operator CA', async () => {
      const old = await makeOperatorPki({ root: pki.root, now: new Date(Date.now() - 3 * 365 * 86400_000) });
      expect((await startWith(layoutFiles(old, 'istio-cacerts'))).message).toMatch(/ca-cert\.pem expired at \d{4}-/);
    });

    it('a chain that does not lead to the given root', async () => {
      const other = await makeOperatorPki({ name: 'Other' });
      const files = { ...layoutFiles(pki, 'istio-cacerts'), 'root-cert.pem': pem(other.root.certificate) };
      expect((await startWith(files)).message).toContain('the chain does not lead to any of the upstream roots');
    });

    it('a missing roots file and an unreadable certificate', async () => {
      const noRoot = layoutFiles(pki, 'istio-cacerts');
      delete noRoot['root-cert.pem'];
      expect((await startWith(noRoot)).message).toBe(`files upstream authority: ${dir}/root-cert.pem is missing`);
      await writeLayout(dir, { 'root-cert.pem': 'not a certificate' });
      expect((await failure(make().start())).message).toBe(`files upstream authority: ${dir}/root-cert.pem does not hold valid PEM certificates`);
    });

    it('a directory with neither layout, or with both', async () => {
      await writeLayout(dir, { 'README': 'nothing here' });
      expect((await failure(make().start())).message).toContain('holds neither Istio\'s cacerts files (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)');
      await writeLayout(dir, { ...layoutFiles(pki, 'istio-cacerts'), ...layoutFiles(pki, 'kubernetes-tls') });
      expect((await failure(make().start())).message).toContain('holds both ca-cert.pem and tls.crt');
      expect((await failure(make({ dir: path.join(work, 'nope') }).start())).message).toContain('cannot read the directory');
    });

    it('bad settings, naming them', async () => {
      expect(await failure(make({ dir: '' }).start())).toEqual({ code: 'INVALID_ARGUMENT', message: 'files upstream authority: dir must be a directory path' });
      expect((await failure(make({ reloadDelayMs: -1 }).start())).message).toContain('reloadDelayMs must be a whole number');
      expect((await failure(make({ trustDomain: 'Bad' }).start())).message).toContain('trustDomain is invalid');
    });
  });

  it('refuses to mint before start and for another trust domain', async () => {
    await writeLayout(dir, layoutFiles(pki, 'istio-cacerts'));
    const authority = make();
    expect((await failure(mint(authority))).code).toBe('FAILED_PRECONDITION');
    await authority.start();
    const keys = generateKeyPair();
    const other = TrustDomain.parse('other.test');
    const csrPem = await createCaCsrPem({ ...keys, subject: 'CN=x', trustDomain: other });
    expect(await failure(authority.mintX509Ca({ csrPem, trustDomain: other, preferredTtlSeconds: 60 }))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'files upstream authority serves spiffe://mesh.acme.test, not spiffe://other.test',
    });
  });

  describe('reload without restart', () => {
    it('picks up a new operator CA under the same root: upstream changed, roots unchanged', async () => {
      await writeLayout(dir, layoutFiles(pki, 'istio-cacerts'));
      const authority = make();
      await authority.start();
      const rootChanges: unknown[] = [];
      authority.onRootsChanged((roots) => rootChanges.push(roots));
      const changed = nextCall((l) => authority.onUpstreamChanged(l));

      const next = await makeOperatorPki({ root: pki.root });
      await writeLayout(dir, layoutFiles(next, 'istio-cacerts'));
      await changed;
      const result = await mint(authority);
      expect(result.x509CaChain[1]!.serialNumber).toBe(next.operator.certificate.serialNumber);
      expect(aki(result.x509CaChain[0]!)).toBe(ski(next.operator.certificate));
      expect(rootChanges).toEqual([]);
      expect(await opensslVerify(result)).toMatch(/OK$/);
    });

    it('reports new roots when the operator moves to another root (secret volume swap)', async () => {
      await writeSecretVolume(dir, layoutFiles(pki, 'kubernetes-tls'));
      const authority = make();
      await authority.start();
      const rootsChanged = nextCall((l: (roots: x509.X509Certificate[]) => void) => authority.onRootsChanged(l));
      const other = await makeOperatorPki({ name: 'NewCo' });
      await writeSecretVolume(dir, layoutFiles(other, 'kubernetes-tls'));
      const [roots] = await rootsChanged;
      expect(roots.map(fingerprint)).toEqual([fingerprint(other.root.certificate)]);
      expect((await mint(authority)).upstreamRoots.map(fingerprint)).toEqual([fingerprint(other.root.certificate)]);
    });

    it('rejects a bad new set with a logged error and a counted failure, and keeps signing with the old CA', async () => {
      await writeLayout(dir, layoutFiles(pki, 'istio-cacerts'));
      const authority = make();
      await authority.start();
      const rejected = logs.next('new operator CA files were rejected');
      await chmod(path.join(dir, 'ca-key.pem'), 0o644);
      const entry = await rejected;
      expect(entry.level).toBe(50);
      expect(JSON.stringify(entry.err)).toContain('is accessible by group or others');
      expect(await registry.getSingleMetricAsString('meshid_ca_upstream_failures_total')).toContain(
        'meshid_ca_upstream_failures_total{upstream="files",reason="reload_rejected"} 1',
      );
      expect((await mint(authority)).x509CaChain[1]!.serialNumber).toBe(pki.operator.certificate.serialNumber);

      const changed = nextCall((l) => authority.onUpstreamChanged(l));
      const next = await makeOperatorPki({ root: pki.root });
      await writeLayout(dir, layoutFiles(next, 'istio-cacerts'));
      await changed;
      expect((await mint(authority)).x509CaChain[1]!.serialNumber).toBe(next.operator.certificate.serialNumber);
    });

    it('ignores a rewrite of the same files', async () => {
      await writeLayout(dir, layoutFiles(pki, 'istio-cacerts'));
      const authority = make();
      await authority.start();
      let changes = 0;
      authority.onUpstreamChanged(() => changes++);
      await writeLayout(dir, layoutFiles(pki, 'istio-cacerts'));
      expect(await authority.reload()).toBe(false);
      expect(changes).toBe(0);
    });
  });
});
