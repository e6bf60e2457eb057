import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCaCertificate, issuerKeyId, randomSerialHex, type CaIssuer } from '../../core/x509/ca-cert.js';
import { certificatesToPem } from '../../core/x509/chain.js';
import { generateKeyPair, keyAlgorithmOf, privateKeyToPem, toCryptoKey, webCryptoSigningAlgorithm, type KeyAlgorithm } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';

/**
 * An enterprise PKI as an operator would hand it to meshid: a root, an enterprise intermediate, and the CA meshid
 * signs with (pathLen 1). The operator CA's SKI is random rather than derived from its key, as some CAs do, so a
 * child's AKI is only right when it is copied from the SKI.
 */
export interface OperatorPki {
  root: CaIssuer;
  enterprise: CaIssuer;
  operator: CaIssuer;
}

const HOUR = 3600_000;

export async function makeOperatorPki(
  options: { now?: Date; root?: CaIssuer; operatorTtlMs?: number; operatorPathLength?: number; keyAlgorithm?: KeyAlgorithm; name?: string } = {},
): Promise<OperatorPki> {
  const now = (options.now ?? new Date()).getTime();
  const name = options.name ?? 'Acme';
  const root = options.root ?? (await selfSigned(`O=${name}, CN=${name} Root CA`, now, 10 * 24 * 365 * HOUR));
  const enterprise = await signed(root, `O=${name}, CN=${name} Issuing CA`, now, 5 * 24 * 365 * HOUR, {});
  const operator = await signed(enterprise, `O=${name}, OU=mesh, CN=${name} Mesh CA`, now, options.operatorTtlMs ?? 365 * 24 * HOUR, {
    pathLength: options.operatorPathLength ?? 1,
    randomSki: true,
    keyAlgorithm: options.keyAlgorithm,
  });
  return { root, enterprise, operator };
}

async function selfSigned(subject: string, now: number, ttlMs: number): Promise<CaIssuer> {
  const { privateKey, publicKey } = generateKeyPair('ec-p384');
  const certificate = await createCaCertificate({
    subject,
    publicKey,
    selfSigningKey: privateKey,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + ttlMs),
  });
  return { certificate, privateKey };
}

async function signed(
  issuer: CaIssuer,
  subject: string,
  now: number,
  ttlMs: number,
  options: { pathLength?: number; randomSki?: boolean; keyAlgorithm?: KeyAlgorithm },
): Promise<CaIssuer> {
  const { privateKey, publicKey } = generateKeyPair(options.keyAlgorithm ?? 'ec-p256');
  if (!options.randomSki) {
    return { privateKey, certificate: await createCaCertificate({ subject, publicKey, notBefore: new Date(now - HOUR), notAfter: new Date(now + ttlMs), pathLength: options.pathLength, issuer }) };
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: issuer.certificate.subject,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + ttlMs),
    publicKey: await toCryptoKey(publicKey, 'verify'),
    signingKey: await toCryptoKey(issuer.privateKey, 'sign'),
    signingAlgorithm: webCryptoSigningAlgorithm(keyAlgorithmOf(issuer.privateKey)),
    extensions: [
      new x509.BasicConstraintsExtension(true, options.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(randomBytes(20).toString('hex')),
      new x509.AuthorityKeyIdentifierExtension(issuerKeyId(issuer.certificate).toString('hex')),
    ],
  });
  return { certificate, privateKey };
}

export const pem = (...certs: x509.X509Certificate[]) => certificatesToPem(certs);

/** The files of either layout for a PKI, by file name. */
export function layoutFiles(pki: OperatorPki, layout: 'istio-cacerts' | 'kubernetes-tls', key: KeyObject = pki.operator.privateKey): Record<string, string> {
  const { root, enterprise, operator } = pki;
  if (layout === 'istio-cacerts') {
    return {
      'ca-cert.pem': pem(operator.certificate),
      'ca-key.pem': privateKeyToPem(key),
      'cert-chain.pem': pem(operator.certificate, enterprise.certificate, root.certificate),
      'root-cert.pem': pem(root.certificate),
    };
  }
  return { 'tls.crt': pem(operator.certificate, enterprise.certificate), 'tls.key': privateKeyToPem(key), 'ca.crt': pem(root.certificate) };
}

const isKey = (name: string) => name.endsWith('key.pem') || name === 'tls.key';

/** Writes the files straight into `dir` (keys 0600), replacing what is there. */
export async function writeLayout(dir: string, files: Record<string, string>, keyMode = 0o600): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const tmp = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, content, { mode: isKey(name) ? keyMode : 0o644 });
    await rename(tmp, path.join(dir, name));
  }
}

/**
 * Writes the files the way the kubelet updates a mounted secret: a fresh timestamped directory, `..data` swapped
 * to it atomically, and each file a symlink through `..data`.
 */
export async function writeSecretVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const version = `..${Date.now()}_${randomBytes(4).toString('hex')}`;
  await mkdir(path.join(dir, version));
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(dir, version, name), content, { mode: isKey(name) ? 0o600 : 0o644 });
  }
  const tmpLink = path.join(dir, '..data_tmp');
  await rm(tmpLink, { force: true });
  await symlink(version, tmpLink);
  await rename(tmpLink, path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(path.join('..data', name), path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
