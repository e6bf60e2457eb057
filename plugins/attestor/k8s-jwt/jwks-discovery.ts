import { readFile } from 'node:fs/promises';
import { createRemoteJWKSet, customFetch, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { invalidArgument, MeshidError } from '../../../core/errors.js';
import { httpsFetch, type HttpsFetch } from './https-fetch.js';

const WELL_KNOWN = '/.well-known/openid-configuration';
/** meshid fetches discovery and JWKS without credentials; Kubernetes serves them to anonymous clients only when told to. */
const ANONYMOUS_ACCESS_HINT =
  'it must be readable without credentials: on Kubernetes, bind the ClusterRole system:service-account-issuer-discovery ' +
  'to the Group system:unauthenticated';

export interface DiscoveryOptions {
  /** The issuer's base URL (…/.well-known/openid-configuration is appended) or the full discovery URL. */
  discoveryUrl: string;
  /** The discovery document must name this issuer. */
  issuer: string;
  /** PEM bundle to trust for the discovery and JWKS URLs instead of the system roots (e.g. the cluster CA). */
  caFile?: string;
  /** Per-request timeout. Default 5 s. */
  timeoutMs?: number;
}

/**
 * The issuer's keys via OIDC discovery: openid-configuration -> jwks_uri, then jose's remote JWKS (cached,
 * refreshed every 10 minutes and when a token names an unknown key). Discovery happens on first use and is
 * retried after a failure, so meshid can start while the API server is unreachable. On Kubernetes the
 * discovery endpoints must be readable anonymously (ClusterRole system:service-account-issuer-discovery bound
 * to system:unauthenticated).
 */
export async function jwksFromDiscovery(opts: DiscoveryOptions): Promise<JWTVerifyGetKey> {
  const configUrl = discoveryDocumentUrl(opts.discoveryUrl);
  const fetchImpl = httpsFetch(opts.caFile ? await readCa(opts.caFile) : undefined);
  const timeoutMs = opts.timeoutMs ?? 5000;
  let remote: Promise<JWTVerifyGetKey> | undefined;

  return async (header, token) => {
    remote ??= discover(configUrl, opts.issuer, fetchImpl, timeoutMs).catch((err: unknown) => {
      remote = undefined; // retry discovery on the next verification
      throw err;
    });
    const keys = await remote;
    try {
      return await keys(header, token);
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) throw err;
      throw unavailable(`cannot fetch the issuer's keys (${describe(err)})`);
    }
  };
}

function discoveryDocumentUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw invalidArgument(`kubernetes.oidcDiscoveryUrl ${JSON.stringify(input)} is not a URL`, 'bad_config');
  }
  if (url.protocol !== 'https:') throw invalidArgument('kubernetes.oidcDiscoveryUrl must be an https URL', 'bad_config');
  if (!url.pathname.endsWith(WELL_KNOWN)) url.pathname = url.pathname.replace(/\/$/, '') + WELL_KNOWN;
  return url;
}

async function discover(configUrl: URL, issuer: string, fetchImpl: HttpsFetch, timeoutMs: number) {
  let doc: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const res = await fetchImpl(configUrl.href, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 401 || res.status === 403) throw new Error(`HTTP ${res.status}; ${ANONYMOUS_ACCESS_HINT}`);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    doc = (await res.json()) as typeof doc;
  } catch (err) {
    throw unavailable(`cannot read the OIDC discovery document ${configUrl.href} (${describe(err)})`);
  }
  if (doc.issuer !== issuer) {
    throw unavailable(
      `the OIDC discovery document ${configUrl.href} names issuer ${JSON.stringify(doc.issuer)}, ` +
        `but kubernetes.issuer is ${JSON.stringify(issuer)}`,
    );
  }
  if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri.startsWith('https://')) {
    throw unavailable(`the OIDC discovery document ${configUrl.href} has no https jwks_uri`);
  }
  return createRemoteJWKSet(new URL(doc.jwks_uri), { [customFetch]: fetchImpl, timeoutDuration: timeoutMs });
}

async function readCa(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw invalidArgument(
      `cannot read kubernetes.caFile ${file} (${(err as NodeJS.ErrnoException).code ?? 'read failed'})`,
      'bad_config',
    );
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JOSEError) return err.message;
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
}

function unavailable(message: string): MeshidError {
  return new MeshidError('UNAVAILABLE', message, 'jwks_unavailable');
}
