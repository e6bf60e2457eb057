import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { MeshidError } from '../../../core/errors.js';

/**
 * The issuer's keys from a JWKS file (e.g. `kubectl get --raw /openid/v1/jwks`, or a mounted ConfigMap).
 * The file is read now — a missing or invalid file fails start-up — and read again whenever its inode, size
 * or mtime changes, so rotating the cluster's signing key needs no restart.
 */
export async function jwksFromFile(file: string): Promise<{ keys: JWTVerifyGetKey; generation: () => string }> {
  let loaded = await load(file);
  return {
    keys: async (header, token) => {
      const current = fileStamp(file);
      if (current !== loaded.stamp) loaded = await load(file);
      return loaded.keys(header, token);
    },
    // Changes with the file, so verified tokens are forgotten the moment a key may have been removed.
    generation: () => fileStamp(file),
  };
}

interface LoadedKeys {
  stamp: string;
  keys: JWTVerifyGetKey;
}

async function load(file: string): Promise<LoadedKeys> {
  const stamp = fileStamp(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw unreadable(file, (err as NodeJS.ErrnoException).code ?? 'read failed');
  }
  try {
    return { stamp, keys: createLocalJWKSet(JSON.parse(text)) };
  } catch {
    throw unreadable(file, 'it is not a JSON Web Key Set ({"keys": [...]})');
  }
}

/**
 * Checked on every verification so a key removed from the file stops verifying at once. Synchronous on
 * purpose: one stat syscall on a local file costs microseconds, the async form a thread-pool round trip
 * that dominated verification under load.
 */
function fileStamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    throw unreadable(file, (err as NodeJS.ErrnoException).code ?? 'stat failed');
  }
}

function unreadable(file: string, detail: string): MeshidError {
  return new MeshidError(
    'UNAVAILABLE',
    `cannot load the service-account issuer keys from ${file} (${detail}); fix kubernetes.jwksFile`,
    'jwks_unavailable',
  );
}
