import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, open, rename, stat, unlink, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshidError } from '../errors.js';
import { privateKeyFromPem, privateKeyToPem } from './keys.js';

/**
 * Replaces `path` atomically: writes a temporary file with `mode` in the same directory (created 0700 if
 * missing), fsyncs it, renames it over `path`, and fsyncs the directory. Readers see the old or the new
 * content, never a torn file.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      await file.writeFile(data);
      await file.chmod(mode); // the umask may have narrowed a wider requested mode
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** Writes a private key as PKCS#8 PEM, mode 0600, atomically. */
export function writePrivateKeyFile(path: string, key: KeyObject): Promise<void> {
  return writeFileAtomic(path, privateKeyToPem(key), 0o600);
}

/**
 * Reads a PEM private key, refusing files that group or others may access. Errors name the file, never its
 * content: FAILED_PRECONDITION with reason key_file_missing, key_file_insecure or key_file_corrupt.
 */
export async function readPrivateKeyFile(path: string): Promise<KeyObject> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new MeshidError('FAILED_PRECONDITION', `private key file ${path} is missing`, 'key_file_missing');
    }
    throw err;
  });
  if (!info.isFile()) {
    throw new MeshidError('FAILED_PRECONDITION', `private key file ${path} is not a regular file`, 'key_file_corrupt');
  }
  const mode = info.mode & 0o777;
  if (mode & 0o077) {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `private key file ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); ` +
        `run "chmod 600 ${path}" and check who could have read it`,
      'key_file_insecure',
    );
  }
  const pem = await readFile(path, 'utf8');
  try {
    return privateKeyFromPem(pem);
  } catch {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `private key file ${path} does not hold an unencrypted PEM private key (corrupt or truncated?)`,
      'key_file_corrupt',
    );
  }
}
