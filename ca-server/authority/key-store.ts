import type { KeyObject } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { invalidArgument } from '../../core/errors.js';
import { readPrivateKeyFile, writePrivateKeyFile } from '../../core/x509/key-file.js';

const KEYS_DIR = 'keys';
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Signing-CA private keys as PKCS#8 PEM files, mode 0600, in `<dataDir>/keys/` (0700). The paths it hands out
 * are relative to the data dir, so a data dir restored elsewhere still finds its keys.
 */
export class KeyStore {
  constructor(private readonly dataDir: string) {}

  /** Atomically writes `keys/<id>.pem`; returns that relative path for the journal. */
  async write(id: string, key: KeyObject): Promise<string> {
    if (!SAFE_ID.test(id)) throw invalidArgument(`key id "${id}" may only contain letters, digits, "_" and "-"`);
    const relative = join(KEYS_DIR, `${id}.pem`);
    await writePrivateKeyFile(this.resolve(relative), key);
    return relative;
  }

  /** Reads a key written by `write` (or any absolute path); refuses files group or others can access. */
  read(keyPath: string): Promise<KeyObject> {
    return readPrivateKeyFile(this.resolve(keyPath));
  }

  /** Deletes a key file; a missing file is not an error. */
  async remove(keyPath: string): Promise<void> {
    await unlink(this.resolve(keyPath)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private resolve(keyPath: string): string {
    return isAbsolute(keyPath) ? keyPath : resolve(this.dataDir, keyPath);
  }
}
