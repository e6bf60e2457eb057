import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorityChange } from '../../ca-server/authority/manager.js';
import type { IstioCertificateServiceClient } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import { CaFixture, newCsr, rpc, splitPem } from '../ca-server/fixture.js';
import { requirePeer } from '../peers/peers.js';
import { writeLayout } from './operator-pki.js';

const run = promisify(execFile);

let openssl: string;
let work: string;
let cacerts: string;
let ca: CaFixture;
let client: IstioCertificateServiceClient;

/** An operator's PKI made with the openssl CLI, as a security team would: a root and a mesh CA (pathlen 1). */
async function opensslRoot(name: string): Promise<{ cert: string; key: string }> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const cert = path.join(dir, 'root-cert.pem');
  const key = path.join(dir, 'root-key.pem');
  await run(openssl, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', key, '-out', cert,
    '-subj', `/O=${name}/CN=${name} Root CA`, '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

async function opensslMeshCa(root: { cert: string; key: string }, name: string): Promise<Record<string, string>> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const [key, csr, cert, ext] = ['ca-key.pem', 'ca.csr', 'ca-cert.pem', 'ext.cnf'].map((f) => path.join(dir, f)) as [string, string, string, string];
  await writeFile(ext, [
    'basicConstraints=critical,CA:TRUE,pathlen:1',
    'keyUsage=critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid:always',
  ].join('\n'));
  await run(openssl, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/O=Acme/CN=${name}`]);
  await run(openssl, ['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-set_serial', `0x${Date.now().toString(16)}`, '-days', '365', '-extfile', ext, '-out', cert]);
  const [caCert, rootCert] = await Promise.all([readFile(cert, 'utf8'), readFile(root.cert, 'utf8')]);
  return { 'ca-cert.pem': caCert, 'ca-key.pem': await readFile(key, 'utf8'), 'cert-chain.pem': caCert + rootCert, 'root-cert.pem': rootCert };
}

const nextChange = (predicate: (c: AuthorityChange) => boolean) =>
  new Promise<AuthorityChange>((resolve) => {
    const unsubscribe = ca.server.authorities.onChange((change) => {
      if (!predicate(change)) return;
      unsubscribe();
      resolve(change);
    });
  });

async function requestSvid(): Promise<string[]> {
  const { csr } = await newCsr();
  return (await rpc(client, client.CreateCertificate, { csr, validity_duration: 600 })).cert_chain;
}

/** openssl verify -x509_strict of the leaf against `rootFile`, with everything between as untrusted. */
async function verify(chain: string[], rootFile: string): Promise<string> {
  const leaf = path.join(work, 'leaf.pem');
  const between = path.join(work, 'between.pem');
  await writeFile(leaf, chain[0]!);
  await writeFile(between, chain.slice(1, -1).join(''));
  return (await run(openssl, ['verify', '-x509_strict', '-CAfile', rootFile, '-untrusted', between, leaf])).stdout.trim();
}

/** Subjects of the signing certificates in an Istio cert_chain (leaf and root bundle left out). */
const subjectsOf = (chain: string[]) => chain.slice(1, -1).map((p) => new X509Certificate(p).subject.replace(/\n/g, ', '));

let root: { cert: string; key: string };

beforeAll(async () => {
  openssl = requirePeer('openssl');
  work = await mkdtemp(path.join(tmpdir(), 'meshid-files-ca-'));
  cacerts = path.join(work, 'cacerts');
  root = await opensslRoot('Acme');
  await writeLayout(cacerts, await opensslMeshCa(root, 'Acme Mesh CA 1'));
  await chmod(path.join(cacerts, 'ca-key.pem'), 0o600);
  ca = await CaFixture.start({ kubernetes: 'jwt', config: { ca: { upstream: { type: 'files', dir: cacerts } } } });
  const token = await ca.saToken('shop', 'web');
  client = ca.istioClient({ bearer: () => token });
});

afterAll(async () => {
  client?.close();
  await ca?.close();
  await rm(work, { recursive: true, force: true });
});

describe('CA server rooted in operator CA files (openssl-made, Istio cacerts layout)', () => {
  it('issues SVIDs that openssl verifies against the operator root, through the operator CA', async () => {
    const chain = await requestSvid();
    expect(subjectsOf(chain)).toEqual(['O=meshid, CN=meshid intermediate meshid.test', 'O=Acme, CN=Acme Mesh CA 1']);
    expect(splitPem(ca.bundlePem())).toEqual([await readFile(root.cert, 'utf8')]);
    expect(await verify(chain, root.cert)).toMatch(/leaf\.pem: OK$/);
  });

  it('switches to a replaced operator CA under the same root without a restart', async () => {
    const switched = nextChange((c) => c.activeChanged);
    const started = Date.now();
    await writeLayout(cacerts, await opensslMeshCa(root, 'Acme Mesh CA 2'));
    const change = await switched;
    const tookMs = Date.now() - started;
    expect(change.bundleChanged).toBe(false);
    const chain = await requestSvid();
    expect(subjectsOf(chain).at(-1)).toBe('O=Acme, CN=Acme Mesh CA 2');
    expect(await verify(chain, root.cert)).toMatch(/OK$/);
    console.log(`files upstream: new operator CA signing ${tookMs} ms after the files were replaced`);
  });

  it('publishes a new operator root before signing under it (activation waits for the schedule)', async () => {
    const published = nextChange((c) => c.bundleChanged);
    const newRoot = await opensslRoot('NewCo');
    await writeLayout(cacerts, await opensslMeshCa(newRoot, 'NewCo Mesh CA'));
    const change = await published;
    expect(change.activeChanged).toBe(false);
    const bundle = change.bundle.roots.map((r) => r.toString('pem') + '\n');
    expect(bundle).toHaveLength(2);
    expect(bundle).toEqual(expect.arrayContaining([await readFile(root.cert, 'utf8'), await readFile(newRoot.cert, 'utf8')]));
    const chain = await requestSvid();
    expect(subjectsOf(chain).at(-1)).toBe('O=Acme, CN=Acme Mesh CA 2');
    expect(await verify(chain, root.cert)).toMatch(/OK$/);
  });
});
