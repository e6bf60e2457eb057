import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanCaptureDir, secretShapesIn } from './secret-shapes.js';

// The log scan (log-scan.check.ts) runs after the suite; these prove it can fail.
const line = (msg: string) => `${JSON.stringify({ level: 30, name: 'meshid-ca', msg })}\n`;

describe('log scan secret shapes', () => {
  it.each([
    ['PEM private key', line('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----')],
    ['PEM private key', line('-----BEGIN PRIVATE KEY-----\nMIGH')],
    ['JWT', line('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')],
    ['join token secret', line(`mjt1.0123456789abcdef.${'a'.repeat(43)}`)],
    ['Bearer credential', line('authorization: Bearer abc123')],
    ['Bearer credential', line('BEARER abc123')],
  ])('detects a planted %s', (shape, planted) => {
    expect(secretShapesIn(planted)).toEqual([shape]);
  });

  it.each([
    line('issued workload SVID'),
    line('[redacted private key] [redacted JWT] mjt1.0123456789abcdef.[redacted] Bearer [redacted]'),
    line('send "authorization: Bearer <service-account token>"'),
    line('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'),
  ])('passes a clean line: %s', (clean) => {
    expect(secretShapesIn(clean)).toEqual([]);
  });

  describe('scanCaptureDir', () => {
    let dir: string;
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('counts files, lines and loggers, and names where a secret shape is without repeating it', async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'meshid-log-scan-'));
      await writeFile(path.join(dir, '100.log'), line('clean') + line('Bearer abc123'));
      await writeFile(path.join(dir, '200.log'), JSON.stringify({ name: 'meshid-agent', msg: 'ok' }) + '\n');
      await writeFile(path.join(dir, 'ignored.txt'), line('Bearer abc123'));
      const scan = await scanCaptureDir(dir);
      expect(scan).toEqual({
        files: 2,
        lines: 3,
        loggers: { 'meshid-ca': 2, 'meshid-agent': 1 },
        findings: ['100.log:2: Bearer credential (logger meshid-ca)'],
      });
    });
  });
});
