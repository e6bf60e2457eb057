import { readFile } from 'node:fs/promises';
import vault from 'node-vault';
import { MeshidError, type ErrorCode } from '../../../core/errors.js';
import type { ResolvedVaultConfig } from './config.js';

export type VaultClient = vault.client;

/**
 * A node-vault client bound to meshid's settings only: node-vault would otherwise fall back to VAULT_TOKEN,
 * VAULT_NAMESPACE, VAULT_PREFIX and VAULT_SKIP_VERIFY from the environment. TLS is always verified, and its
 * DEBUG=node-vault output (request bodies, i.e. secret IDs and service-account tokens) is switched off.
 */
export function createVaultClient(config: ResolvedVaultConfig): VaultClient {
  const client = vault({
    debug: () => undefined,
    endpoint: config.address,
    requestOptions: { timeout: config.timeoutMs, strictSSL: true, ...(config.caPem ? { ca: config.caPem } : {}) },
  });
  client.token = '';
  Object.assign(client, { namespace: config.namespace, pathPrefix: '' });
  return client;
}

const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Turns a node-vault failure into a MeshidError that says what was attempted and what to check. Only the
 * status and Vault's own error text go into the message, never the request (it carries the token or secret).
 * `onClientError` is the code for other 4xx answers: a refused login is a credentials problem, a refused
 * signing request a configuration problem.
 */
export function vaultFailure(err: unknown, action: string, address: string, onClientError: ErrorCode): MeshidError {
  const fail = (code: ErrorCode, detail: string, reason: string) =>
    new MeshidError(code, `vault upstream authority: ${action} at ${address} failed: ${detail}`, reason);
  const response = (err as { response?: { statusCode?: unknown } }).response;
  if (typeof response?.statusCode === 'number') {
    const status = response.statusCode;
    const said = `HTTP ${status}: ${vaultMessage(err)}`;
    if (status === 401 || status === 403) return fail('PERMISSION_DENIED', `${said} (check meshid's credentials and policy)`, 'vault_denied');
    if (status === 404) return fail('FAILED_PRECONDITION', `${said} (check the mount path)`, 'vault_not_found');
    if (status === 429 || status >= 500) return fail('UNAVAILABLE', said, 'vault_unavailable');
    return fail(onClientError, said, onClientError === 'PERMISSION_DENIED' ? 'vault_denied' : 'vault_rejected');
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_ERRORS.has(code)) {
    return fail('UNAVAILABLE', `TLS verification failed (${code}); set caFile to the CA that signed Vault's certificate`, 'vault_tls');
  }
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return fail('UNAVAILABLE', 'Vault did not answer in time', 'vault_timeout');
  return fail('UNAVAILABLE', `cannot reach Vault (${typeof code === 'string' ? code : 'network error'})`, 'vault_unreachable');
}

/** Vault's error text, on one line and bounded. */
function vaultMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : '';
  const oneLine = text.replace(/\s+/g, ' ').replace(/^\d+ errors? occurred: \* /, '').trim() || 'no detail';
  return oneLine.length > 300 ? `${oneLine.slice(0, 297)}...` : oneLine;
}

/** Reads a secret (token, secret ID, service-account token) from a file; errors name the file, never its content. */
export async function readSecretFile(file: string, what: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new MeshidError('FAILED_PRECONDITION', `vault upstream authority: cannot read the ${what} file ${file} (${err.code ?? 'error'})`, 'vault_secret_file');
  });
  const secret = text.trim();
  if (!secret) throw new MeshidError('FAILED_PRECONDITION', `vault upstream authority: the ${what} file ${file} is empty`, 'vault_secret_file');
  return secret;
}
