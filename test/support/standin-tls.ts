import { createCaCertificate, randomSerialHex } from '../../core/x509/ca-cert.js';
import { generateKeyPair, privateKeyToPem, subjectKeyIdentifier, toCryptoKey } from '../../core/x509/keys.js';
import { x509 } from '../../core/x509/peculiar.js';

export interface LocalServerTls {
  /** PEM of the CA that clients must trust. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A throwaway CA and a serving certificate for 127.0.0.1 / localhost, made at runtime (ECDSA P-256). */
export async function createLocalServerTls(): Promise<LocalServerTls> {
  const now = Date.now();
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + 24 * 3600_000);
  const caKeys = generateKeyPair();
  const ca = await createCaCertificate({
    subject: 'CN=meshid test stand-in CA',
    publicKey: caKeys.publicKey,
    selfSigningKey: caKeys.privateKey,
    notBefore,
    notAfter,
  });
  const serverKeys = generateKeyPair();
  const spki = serverKeys.publicKey.export({ format: 'der', type: 'spki' });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: await toCryptoKey(serverKeys.publicKey, 'verify'),
    signingKey: await toCryptoKey(caKeys.privateKey, 'sign'),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectKeyIdentifierExtension(subjectKeyIdentifier(spki).toString('hex')),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem: privateKeyToPem(serverKeys.privateKey) };
}
