import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { certificateKey, certificatesFromPem, fingerprint, samePublicKey, verifyCaChain } from '../../../core/x509/chain.js';
import { MeshidError } from '../../../core/errors.js';
import type { CaIssuer } from '../../../core/x509/ca-cert.js';
import { readPrivateKeyFile } from '../../../core/x509/key-file.js';
import { keyAlgorithmOf } from '../../../core/x509/keys.js';
import { x509 } from '../../../core/x509/peculiar.js';
import { certificateSetKey, distinctCertificates, isSelfSigned } from '../shared/certificates.js';

/** Istio's plugged-in CA secret (`cacerts`). cert-chain.pem runs from ca-cert.pem up to the root. */
export const ISTIO_CACERTS = { cert: 'ca-cert.pem', key: 'ca-key.pem', chain: 'cert-chain.pem', roots: 'root-cert.pem' } as const;
/** A kubernetes.io/tls secret as cert-manager writes it: tls.crt holds the CA and the intermediates above it. */
export const KUBERNETES_TLS = { cert: 'tls.crt', key: 'tls.key', roots: 'ca.crt' } as const;

export type OperatorCaLayout = 'istio-cacerts' | 'kubernetes-tls';

/** The operator's CA as read from disk and checked: meshid's signing CAs are signed by `issuer`. */
export interface OperatorCa {
  layout: OperatorCaLayout;
  issuer: CaIssuer;
  /** What follows meshid's signing CA in its chain: the operator CA (unless it is a root) and the intermediates above it. */
  chain: x509.X509Certificate[];
  roots: x509.X509Certificate[];
  /** Identity of the whole set, to tell a real change from a rewrite of the same files. */
  key: string;
}

const failed = (message: string, reason = 'bad_operator_ca') =>
  new MeshidError('FAILED_PRECONDITION', `files upstream authority: ${message}`, reason);

/** Reads the operator CA files in `dir` (either layout) and checks they form a usable, valid CA. */
export async function loadOperatorCa(dir: string, now: Date): Promise<OperatorCa> {
  const layout = await detectLayout(dir);
  const names = layout === 'istio-cacerts' ? ISTIO_CACERTS : KUBERNETES_TLS;
  const certFile = path.join(dir, names.cert);
  const keyFile = path.join(dir, names.key);
  const certs = await readCertificates(certFile);
  const certificate = certs[0]!;
  const rootsFile = path.join(dir, names.roots);
  const roots = distinctCertificates(await readCertificates(rootsFile));
  // Above the operator CA: the rest of its file, then (Istio) cert-chain.pem, which is optional here.
  const chainCandidates = certs.slice(1);
  if ('chain' in names && (await exists(path.join(dir, names.chain)))) {
    chainCandidates.push(...(await readCertificates(path.join(dir, names.chain))));
  }
  const privateKey = await readKey(keyFile);
  checkSigningCa(certificate, privateKey, certFile, keyFile, now);

  const isRoot = roots.some((r) => fingerprint(r) === fingerprint(certificate));
  if (!isRoot && isSelfSigned(certificate)) {
    throw failed(`${certFile} is a self-signed root but ${rootsFile} does not contain it; add it there`);
  }
  const intermediates = distinctCertificates(chainCandidates, [certificate, ...roots]).filter((c) => !isSelfSigned(c));
  const chain = isRoot ? [] : [certificate, ...intermediates];
  if (chain.length > 0) {
    verifyCaChain(chain, roots, `files upstream authority: the operator CA chain in ${dir}`);
  }
  const key = `${[certificate, ...chain].map(fingerprint).join('>')}|${certificateSetKey(roots)}`;
  return { layout, issuer: { certificate, privateKey }, chain, roots, key };
}

async function detectLayout(dir: string): Promise<OperatorCaLayout> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw failed(`cannot read the directory ${dir} (${err.code ?? 'error'})`, 'operator_ca_missing');
  });
  if (!info.isDirectory()) throw failed(`${dir} is not a directory`, 'operator_ca_missing');
  const [istio, tls] = await Promise.all([exists(path.join(dir, ISTIO_CACERTS.cert)), exists(path.join(dir, KUBERNETES_TLS.cert))]);
  if (istio && tls) {
    throw failed(`${dir} holds both ${ISTIO_CACERTS.cert} and ${KUBERNETES_TLS.cert}; keep the files of one layout only`);
  }
  if (istio) return 'istio-cacerts';
  if (tls) return 'kubernetes-tls';
  throw failed(
    `${dir} holds neither Istio's cacerts files (${Object.values(ISTIO_CACERTS).join(', ')}) ` +
      `nor a kubernetes.io/tls secret's files (${Object.values(KUBERNETES_TLS).join(', ')})`,
    'operator_ca_missing',
  );
}

async function readCertificates(file: string): Promise<x509.X509Certificate[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw failed(err.code === 'ENOENT' ? `${file} is missing` : `cannot read ${file} (${err.code ?? 'error'})`, 'operator_ca_missing');
  });
  try {
    return certificatesFromPem(text, file);
  } catch (err) {
    throw failed((err as Error).message);
  }
}

async function readKey(file: string): Promise<KeyObject> {
  try {
    return await readPrivateKeyFile(file);
  } catch (err) {
    if (!(err instanceof MeshidError)) throw err;
    const hint = err.reason === 'key_file_insecure' ? ' (for a Kubernetes secret volume, set defaultMode: 0400)' : '';
    throw failed(`${err.message}${hint}`, err.reason);
  }
}

/** The operator CA must be a CA that may sign another CA (meshid's) and must be valid now. */
function checkSigningCa(cert: x509.X509Certificate, key: KeyObject, certFile: string, keyFile: string, now: Date): void {
  if (!samePublicKey(key, certificateKey(cert))) throw failed(`${keyFile} is not the key of ${certFile}`);
  try {
    keyAlgorithmOf(key);
  } catch (err) {
    throw failed(`${keyFile}: ${(err as Error).message}`);
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw failed(`${certFile} is not a CA certificate (basicConstraints cA is not true)`);
  if (basic.pathLength !== undefined && basic.pathLength < 1) {
    throw failed(
      `${certFile} has pathLenConstraint ${basic.pathLength}, so it cannot sign meshid's signing CA; ` +
        'issue the operator CA with a path length of at least 1 (or none)',
    );
  }
  const usages = cert.getExtension(x509.KeyUsagesExtension);
  if (usages && !(usages.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw failed(`${certFile} lacks the keyCertSign key usage, so it cannot sign certificates`);
  }
  if (cert.notBefore > now) throw failed(`${certFile} is not valid before ${cert.notBefore.toISOString()}`);
  if (cert.notAfter <= now) throw failed(`${certFile} expired at ${cert.notAfter.toISOString()}`, 'operator_ca_expired');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
