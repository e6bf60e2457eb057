import { invalidArgument } from '../errors.js';
import { parseIp, type IpAddress } from './ip.js';
import type { RequestAttributes } from './model.js';

const SPIFFE_SCHEME = 'spiffe://';

/** A JWT's issuer and subject: Istio's request principal `<iss>/<sub>`. */
export interface RequestPrincipal {
  iss: string;
  sub: string;
}

/**
 * Request attributes in the form the compiled matchers read, derived once per request. `undefined` means
 * the attribute is unavailable.
 */
export interface PreparedRequest {
  /** Peer SPIFFE ID without the scheme: `<td>/ns/<ns>/sa/<sa>`, as Istio's principals are written. */
  principal: string | undefined;
  /** Every namespace the peer's ID names (segments after `ns`); empty for IDs without one. */
  namespaces: readonly string[] | undefined;
  sourceIp: IpAddress | undefined;
  destinationIp: IpAddress | undefined;
  destinationPort: number | undefined;
  method: string;
  /** Path without query string or fragment. */
  path: string;
  /** Lower-cased host as sent, and without its port (equal when there is none). */
  host: string | undefined;
  hostWithoutPort: string | undefined;
  headers: Readonly<Record<string, string>>;
  claims: Readonly<Record<string, unknown>> | undefined;
  requestPrincipal: RequestPrincipal | undefined;
}

/**
 * Namespaces named by a SPIFFE ID path, Istio style: the segment after each `ns` segment that is itself
 * followed by another segment (Istio matches `.*\/ns/<ns>/.*`). Usually one: `td/ns/prod/sa/web` -> [prod].
 */
export function namespacesOfPrincipal(principal: string): string[] {
  const segments = principal.split('/');
  const found: string[] = [];
  for (let i = 1; i + 2 < segments.length; i++) {
    if (segments[i] === 'ns' && segments[i + 1] !== '') found.push(segments[i + 1]!);
  }
  return found;
}

function ipOf(name: string, value: string | undefined): IpAddress | undefined {
  if (value === undefined || value === '') return undefined;
  const ip = parseIp(value, { allowZone: true });
  if (!ip) throw invalidArgument(`${name} "${value}" is not an IP address`, 'bad_request_attributes');
  return ip;
}

/** Host without a trailing `:port` (IPv6 literals keep their brackets). */
function stripPort(host: string): string {
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  if (end <= 0 || host.indexOf(':', end) !== end) return host;
  return /^\d+$/.test(host.slice(end + 1)) ? host.slice(0, end) : host;
}

function requestPrincipalOf(claims: Readonly<Record<string, unknown>> | undefined): RequestPrincipal | undefined {
  if (!claims) return undefined;
  const { iss, sub } = claims;
  return typeof iss === 'string' && typeof sub === 'string' ? { iss, sub } : undefined;
}

/** Throws INVALID_ARGUMENT for attributes no proxy would send (unparseable IPs, out-of-range ports). */
export function prepareRequest(attrs: RequestAttributes): PreparedRequest {
  const principal =
    attrs.principal !== undefined && attrs.principal.startsWith(SPIFFE_SCHEME) && attrs.principal.length > SPIFFE_SCHEME.length
      ? attrs.principal.slice(SPIFFE_SCHEME.length)
      : undefined;
  const port = attrs.destinationPort;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw invalidArgument(`destination port ${port} is out of range`, 'bad_request_attributes');
  }
  const queryAt = attrs.path.search(/[?#]/);
  const host = attrs.host ? attrs.host.toLowerCase() : undefined;
  return {
    principal,
    namespaces: principal === undefined ? undefined : namespacesOfPrincipal(principal),
    sourceIp: ipOf('source address', attrs.sourceIp),
    destinationIp: ipOf('destination address', attrs.destinationIp),
    destinationPort: port,
    method: attrs.method,
    path: queryAt === -1 ? attrs.path : attrs.path.slice(0, queryAt),
    host,
    hostWithoutPort: host === undefined ? undefined : stripPort(host),
    headers: attrs.headers,
    claims: attrs.jwtClaims,
    requestPrincipal: requestPrincipalOf(attrs.jwtClaims),
  };
}
