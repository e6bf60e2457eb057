import { randomBytes, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certDer, createTestCa, type TestCa } from '../../test/x509/fixtures.js';
import { x509 } from './peculiar.js';
import { derToPem, dersToPem, pemBlock, pemToDers } from './pem.js';

/** The hand-written encoder every DER->PEM copy used before core/x509/pem.ts. */
const regexEncoder = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

let ca: TestCa;
beforeAll(async () => {
  ca = await createTestCa('ec-p256');
});

describe('derToPem / dersToPem', () => {
  it('writes what node:crypto, PemConverter (plus the final newline) and the replaced regex encoder write', () => {
    for (const der of [certDer(ca.root.certificate), certDer(ca.intermediate.certificate)]) {
      expect(derToPem(der)).toBe(new X509Certificate(der).toString());
      expect(derToPem(der)).toBe(`${x509.PemConverter.encode(der, 'CERTIFICATE')}\n`);
      expect(derToPem(der)).toBe(regexEncoder(der));
    }
    // Every length around the 48-byte (64-character) line boundary, and a few big ones.
    for (const length of [1, 2, 3, 47, 48, 49, 95, 96, 97, 600, 2048, 4097]) {
      const der = randomBytes(length);
      expect(derToPem(der), `${length} bytes`).toBe(`${x509.PemConverter.encode(der, 'CERTIFICATE')}\n`);
      expect(derToPem(der), `${length} bytes`).toBe(regexEncoder(der));
    }
  });

  it('reads any Uint8Array view, not only Buffers', () => {
    const der = certDer(ca.root.certificate);
    const padded = new Uint8Array(der.length + 10);
    padded.set(der, 5);
    expect(derToPem(padded.subarray(5, 5 + der.length))).toBe(derToPem(der));
  });

  it('concatenates blocks in order, each ending in "\\n"', () => {
    const ders = [certDer(ca.intermediate.certificate), certDer(ca.root.certificate)];
    expect(dersToPem(ders)).toBe(ders.map(derToPem).join(''));
    expect(dersToPem([])).toBe('');
  });

  it('labels other blocks as asked', () => {
    expect(pemBlock('CERTIFICATE REQUEST', Buffer.from('abc'))).toBe('-----BEGIN CERTIFICATE REQUEST-----\nYWJj\n-----END CERTIFICATE REQUEST-----\n');
  });
});

describe('pemToDers', () => {
  it('round-trips, in order, with or without CRLF line ends and text between blocks', () => {
    const ders = [certDer(ca.intermediate.certificate), certDer(ca.root.certificate)];
    const pem = dersToPem(ders);
    expect(pemToDers(pem)).toEqual(ders);
    expect(pemToDers(pem.replace(/\n/g, '\r\n'))).toEqual(ders);
    expect(pemToDers(`subject=intermediate\n${derToPem(ders[0]!)}\nsubject=root\n${derToPem(ders[1]!)}`)).toEqual(ders);
    expect(pemToDers('')).toEqual([]);
  });

  it('refuses a block that is not a CERTIFICATE', () => {
    expect(() => pemToDers(derToPem(certDer(ca.root.certificate)) + pemBlock('PRIVATE KEY', Buffer.from('k')))).toThrow(
      'a PEM block is "PRIVATE KEY", not CERTIFICATE',
    );
  });
});
