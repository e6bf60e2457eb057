import { X509Certificate, type KeyObject } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MeshidError } from '../core/errors.js';
import { readPrivateKeyFile, writeFileAtomic, writePrivateKeyFile } from '../core/x509/key-file.js';
import { privateKeyToPem, privateKeyToPkcs8Der } from '../core/x509/keys.js';
import { pemToDers } from '../core/x509/pem.js';
import type { X509SvidMaterial } from './identity-source.js';

/** The agent's own SVID, with its key also as a KeyObject for signing CSRs and checks. */
export type AgentSvid = X509SvidMaterial & { privateKey: KeyObject };

export const AGENT_SVID_FILE = 'svid.pem';
export const AGENT_KEY_FILE = 'key.pem';

/**
 * Persists the agent SVID in `dir`: key.pem first, then svid.pem, each 0600 and replaced atomically. A crash
 * in between leaves a pair that does not match, which loadAgentSvid reports instead of using.
 */
export async function saveAgentSvid(dir: string, svid: AgentSvid): Promise<void> {
  await writePrivateKeyFile(path.join(dir, AGENT_KEY_FILE), svid.privateKey);
  await writeFileAtomic(path.join(dir, AGENT_SVID_FILE), svid.chainPem, 0o600);
}

/**
 * The persisted agent SVID and its notBefore, or undefined when this agent never attested (neither file
 * exists). Refuses (FAILED_PRECONDITION) a key file others may read, or files that do not belong together.
 */
export async function loadAgentSvid(dir: string): Promise<{ svid: AgentSvid; notBefore: Date } | undefined> {
  const certFile = path.join(dir, AGENT_SVID_FILE);
  const keyFile = path.join(dir, AGENT_KEY_FILE);
  const [hasCert, hasKey] = await Promise.all([exists(certFile), exists(keyFile)]);
  if (!hasCert && !hasKey) return undefined;
  if (!hasCert) throw corrupt(`${certFile} is missing but ${keyFile} exists`);

  const privateKey = await readPrivateKeyFile(keyFile);
  const chainPem = await readFile(certFile, 'utf8');
  let chainDer: Buffer[];
  let leaf: X509Certificate | undefined;
  try {
    chainDer = pemToDers(chainPem);
    [leaf] = chainDer.map((der) => new X509Certificate(der));
  } catch {
    throw corrupt(`${certFile} does not hold PEM certificates`);
  }
  if (!leaf) throw corrupt(`${certFile} holds no certificate`);
  if (!leaf.checkPrivateKey(privateKey)) throw corrupt(`${certFile} and ${keyFile} do not belong together`);
  const spiffeId = /(?:^|, )URI:(spiffe:\/\/[^,]+)/.exec(leaf.subjectAltName ?? '')?.[1];
  if (!spiffeId) throw corrupt(`${certFile} is not an X509-SVID (no spiffe:// URI SAN)`);
  const svid: AgentSvid = {
    spiffeId,
    chainDer,
    chainPem,
    privateKey,
    privateKeyDer: privateKeyToPkcs8Der(privateKey),
    privateKeyPem: privateKeyToPem(privateKey),
    notAfter: new Date(leaf.validTo),
  };
  return { svid, notBefore: new Date(leaf.validFrom) };
}

function corrupt(what: string): MeshidError {
  return new MeshidError(
    'FAILED_PRECONDITION',
    `persisted agent SVID is unusable: ${what}; remove ${AGENT_SVID_FILE} and ${AGENT_KEY_FILE} and start again with a new join token`,
    'agent_svid_corrupt',
  );
}

function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}
