/**
 * The token of an `authorization: Bearer <token>` value, or undefined when the value is not that shape.
 * The scheme is case-insensitive (RFC 9110 section 11.1) and whitespace around the value is ignored (it is
 * not part of an HTTP field value); the token is one run of non-whitespace. Callers phrase their own refusal.
 */
export function parseBearer(header: string): string | undefined {
  return BEARER.exec(header)?.[1];
}

const BEARER = /^\s*bearer\s+(\S+)\s*$/i;
