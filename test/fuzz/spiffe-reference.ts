/**
 * The SPIFFE-ID rules (SPIFFE-ID spec section 2 as go-spiffe enforces them, PROTOCOLS.md) as a plain
 * scanner, written apart from core/spiffeid.ts and its regexes so the two can disagree.
 */

export const SCHEME = 'spiffe://';
export const MAX_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;

const isLower = (c: string) => c >= 'a' && c <= 'z';
const isUpper = (c: string) => c >= 'A' && c <= 'Z';
const isDigit = (c: string) => c >= '0' && c <= '9';
const isPunct = (c: string) => c === '.' || c === '-' || c === '_';

/** Trust domain: 1-255 of [a-z0-9._-]. Uppercase is an error, not folded; ports, userinfo, %-escapes can't pass. */
export function validTrustDomain(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_TRUST_DOMAIN_BYTES) return false;
  for (const c of name) if (!(isLower(c) || isDigit(c) || isPunct(c))) return false;
  return true;
}

/** Path: empty, or "/" segments of [a-zA-Z0-9._-]+, none "." or "..", no trailing "/". */
export function validPath(path: string): boolean {
  if (path === '') return true;
  if (path[0] !== '/') return false;
  let segment = '';
  for (const c of path.slice(1) + '/') {
    if (c === '/') {
      if (segment === '' || segment === '.' || segment === '..') return false;
      segment = '';
    } else if (isLower(c) || isUpper(c) || isDigit(c) || isPunct(c)) {
      segment += c;
    } else {
      return false; // %, ?, #, @, :, whitespace, non-ASCII, ...
    }
  }
  return true;
}

/** The trust domain and path of a valid SPIFFE ID, or null. */
export function referenceSpiffeId(input: string): { trustDomain: string; path: string } | null {
  if (!input.startsWith(SCHEME) || Buffer.byteLength(input, 'utf8') > MAX_ID_BYTES) return null;
  const rest = input.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  return validTrustDomain(trustDomain) && validPath(path) ? { trustDomain, path } : null;
}
