import { createPublicKey, type KeyObject } from 'node:crypto';
import { access, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificatesToPem, samePublicKey } from '../../../core/x509/chain.js';
import { MeshidError } from '../../../core/errors.js';
import { createCaCertificate } from '../../../core/x509/ca-cert.js';
import { readPrivateKeyFile, writeFileAtomic, writePrivateKeyFile } from '../../../core/x509/key-file.js';
import { generateKeyPair, keyAlgorithmOf, subjectKeyIdentifier } from '../../../core/x509/keys.js';
import { x509 } from '../../../core/x509/peculiar.js';
import type { ResolvedSelfSignedConfig } from './config.js';

export const ROOT_KEY_FILE = 'root-key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';
/** Roots created by root rotation: `<id>-key.pem` (0600) and `<id>-cert.pem`, id = hex SKI of the root key. */
export const ROTATED_ROOTS_DIR = 'roots';
/** Backdating absorbs clock skew between the CA and verifiers. */
const BACKDATE_MS = 10_000;

export interface Root {
  certificate: x509.X509Certificate;
  privateKey: KeyObject;
}

export const rootDir = (dataDir: string) => join(dataDir, 'upstream', 'self-signed');
const rotatedDir = (dataDir: string) => join(rootDir(dataDir), ROTATED_ROOTS_DIR);
const keyId = (publicKey: KeyObject) => subjectKeyIdentifier(publicKey.export({ format: 'der', type: 'spki' })).toString('hex');

/**
 * Loads the root from `<dataDir>/upstream/self-signed/` or creates it there (dir 0700, key 0600). A key
 * without a certificate can only come from a first start that crashed between the two writes, before anything
 * could trust the root, so the certificate is recreated from the key.
 */
export async function loadOrCreateRoot(config: ResolvedSelfSignedConfig, now: Date): Promise<Root> {
  const dir = rootDir(config.dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, ROOT_KEY_FILE);
  const certPath = join(dir, ROOT_CERT_FILE);
  const [hasKey, hasCert] = await Promise.all([exists(keyPath), exists(certPath)]);

  if (hasCert && !hasKey) {
    throw failed(
      `${certPath} exists but ${keyPath} is missing: restore the key from a backup ` +
        '(moving both files away creates a new root that no existing workload trusts)',
      'root_missing',
    );
  }
  if (!hasKey) {
    const { privateKey } = generateKeyPair(config.keyAlgorithm);
    await writePrivateKeyFile(keyPath, privateKey);
    return { privateKey, certificate: await createRootCertificate(config, privateKey, certPath, now) };
  }
  const privateKey = await readPrivateKeyFile(keyPath);
  const actual = keyAlgorithmOf(privateKey);
  if (actual !== config.keyAlgorithm) {
    throw failed(
      `the root key in ${keyPath} is ${actual} but keyAlgorithm is ${config.keyAlgorithm}; set keyAlgorithm to ${actual} ` +
        '(changing the root key needs a root rotation)',
      'root_mismatch',
    );
  }
  if (!hasCert) return { privateKey, certificate: await createRootCertificate(config, privateKey, certPath, now) };
  const certificate = await readRootCertificate(certPath);
  await checkRoot(certificate, privateKey, config, certPath);
  return { privateKey, certificate };
}

/**
 * Creates the next root for a root rotation in `roots/` (key 0600 written first, then the certificate). Its
 * subject adds the creation time so verifiers holding both roots never confuse the two by name.
 */
export async function createRotatedRoot(config: ResolvedSelfSignedConfig, now: Date): Promise<{ root: Root; keyPath: string }> {
  const dir = rotatedDir(config.dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPair(config.keyAlgorithm);
  const id = keyId(publicKey);
  const keyPath = join(dir, `${id}-key.pem`);
  await writePrivateKeyFile(keyPath, privateKey);
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const subject = `${config.subject}, OU=rotated ${stamp}`;
  const certificate = await createRootCertificate(config, privateKey, join(dir, `${id}-cert.pem`), now, subject);
  return { root: { certificate, privateKey }, keyPath };
}

/** The key of a root `createRotatedRoot` made, paired with its certificate; refuses a key that does not match. */
export async function loadRotatedRoot(config: ResolvedSelfSignedConfig, certificate: x509.X509Certificate): Promise<Root> {
  const publicKey = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
  const keyPath = join(rotatedDir(config.dataDir), `${keyId(publicKey)}-key.pem`);
  if (!(await exists(keyPath))) {
    throw failed(`no key for the root "${certificate.subject}" (${keyPath} is missing); restore it from a backup`, 'root_missing');
  }
  const privateKey = await readPrivateKeyFile(keyPath);
  if (!samePublicKey(privateKey, publicKey)) {
    throw failed(`${keyPath} does not belong to the root "${certificate.subject}"; restore the matching key`, 'root_mismatch');
  }
  return { certificate, privateKey };
}

/** Whether root rotation has created roots here (then the authority journal, not root-cert.pem, says which signs). */
export async function hasRotatedRoots(dataDir: string): Promise<boolean> {
  const names = await readdir(rotatedDir(dataDir)).catch(() => []);
  return names.some((name) => name.endsWith('-cert.pem'));
}

async function createRootCertificate(
  config: ResolvedSelfSignedConfig,
  privateKey: KeyObject,
  certPath: string,
  now: Date,
  subject = config.subject,
): Promise<x509.X509Certificate> {
  const certificate = await createCaCertificate({
    subject,
    publicKey: createPublicKey(privateKey),
    selfSigningKey: privateKey,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + config.rootTtlSeconds * 1000),
    trustDomain: config.trustDomain,
  });
  await writeFileAtomic(certPath, certificatesToPem([certificate]), 0o644);
  return certificate;
}

async function readRootCertificate(certPath: string): Promise<x509.X509Certificate> {
  try {
    return new x509.X509Certificate(await readFile(certPath, 'utf8'));
  } catch {
    throw failed(`${certPath} does not hold a PEM certificate (corrupt or truncated?); restore it from a backup`, 'root_corrupt');
  }
}

async function checkRoot(
  certificate: x509.X509Certificate,
  privateKey: KeyObject,
  config: ResolvedSelfSignedConfig,
  certPath: string,
): Promise<void> {
  const spki = (key: KeyObject) => key.export({ format: 'der', type: 'spki' });
  if (!Buffer.from(certificate.publicKey.rawData).equals(spki(createPublicKey(privateKey)))) {
    throw failed(`${certPath} does not belong to the root key next to it; restore the matching pair`, 'root_mismatch');
  }
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca || !(await certificate.isSelfSigned())) {
    throw failed(`${certPath} is not a self-signed CA certificate`, 'root_mismatch');
  }
  const uris = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.items
    .filter((n) => n.type === 'url')
    .map((n) => n.value) ?? [];
  if (uris.length > 0 && !uris.includes(config.trustDomain.id)) {
    throw failed(
      `the root in ${certPath} is for ${uris.join(', ')}, not the configured trust domain ${config.trustDomain.id}`,
      'root_mismatch',
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const failed = (message: string, reason: string) =>
  new MeshidError('FAILED_PRECONDITION', `self-signed upstream authority: ${message}`, reason);
