import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair, privateKeyToPem } from '../../core/x509/keys.js';
import { KeyStore } from './key-store.js';

const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '', reason: '' }),
    (e: { code?: string; message: string; reason?: string }) => ({ code: e.code, message: e.message, reason: e.reason }),
  );

describe('KeyStore', () => {
  let dataDir: string;
  let store: KeyStore;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meshid-keys-'));
    store = new KeyStore(dataDir);
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('writes PKCS#8 PEM 0600 under keys/ (0700) and reads it back', async () => {
    const { privateKey } = generateKeyPair('ec-p384');
    const path = await store.write('abc123', privateKey);
    expect(path).toBe(join('keys', 'abc123.pem'));
    expect(statSync(join(dataDir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, path)).mode & 0o777).toBe(0o600);
    expect(privateKeyToPem(await store.read(path))).toBe(privateKeyToPem(privateKey));
    expect(privateKeyToPem(await store.read(join(dataDir, path)))).toBe(privateKeyToPem(privateKey));
  });

  it('replaces a key atomically, leaving no temporary files', async () => {
    await store.write('k', generateKeyPair().privateKey);
    const second = generateKeyPair('rsa-2048').privateKey;
    await store.write('k', second);
    expect(readdirSync(join(dataDir, 'keys'))).toEqual(['k.pem']);
    expect(privateKeyToPem(await store.read('keys/k.pem'))).toBe(privateKeyToPem(second));
  });

  it('refuses ids that could escape the keys directory', async () => {
    expect((await failure(store.write('../evil', generateKeyPair().privateKey))).code).toBe('INVALID_ARGUMENT');
  });

  it('reports missing, insecure and corrupt key files by path only', async () => {
    expect(await failure(store.read('keys/none.pem'))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'key_file_missing' });
    const path = await store.write('k', generateKeyPair().privateKey);
    chmodSync(join(dataDir, path), 0o640);
    expect(await failure(store.read(path))).toMatchObject({
      reason: 'key_file_insecure',
      message: expect.stringContaining('(mode 0640); run "chmod 600'),
    });
    writeFileSync(join(dataDir, path), 'SECRET-MATERIAL', { mode: 0o600 });
    chmodSync(join(dataDir, path), 0o600);
    const corrupt = await failure(store.read(path));
    expect(corrupt).toMatchObject({ reason: 'key_file_corrupt' });
    expect(corrupt.message).not.toContain('SECRET-MATERIAL');
  });

  it('removes key files, ignoring ones already gone', async () => {
    const path = await store.write('k', generateKeyPair().privateKey);
    await store.remove(path);
    await store.remove(path);
    expect(readdirSync(join(dataDir, 'keys'))).toEqual([]);
  });
});
