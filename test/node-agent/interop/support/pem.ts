import { X509Certificate } from 'node:crypto';

/** Concatenated PEM of DER certificates. */
export function certificatesPem(ders: readonly Buffer[]): string {
  return ders.map((der) => new X509Certificate(der).toString()).join('');
}

/** The PEM certificate blocks of a string, in order. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}
