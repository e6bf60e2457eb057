import { createHash, randomBytes } from 'node:crypto';
import { unauthenticated } from '../../../core/errors.js';

/**
 * Join token text: `mjt1.<id>.<secret>` — a recognisable prefix (so secret scanners and humans can spot one),
 * a public 16-hex-digit id (shown by `meshid token list`, safe to log), and 32 random bytes in base64url.
 * Only SHA-256 of the whole text is stored; the secret has 256 bits of entropy, so an unsalted hash is enough.
 */
const PREFIX = 'mjt1';
const FORMAT = /^mjt1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export interface ParsedJoinToken {
  id: string;
  /** SHA-256 (hex) of the full text: the lookup key in the DataStore. */
  hash: string;
}

export function newJoinToken(): { id: string; token: string } {
  const id = randomBytes(8).toString('hex');
  return { id, token: `${PREFIX}.${id}.${randomBytes(32).toString('base64url')}` };
}

export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Checks the shape of presented token text; the messages never repeat the text. */
export function parseJoinToken(token: string): ParsedJoinToken {
  if (typeof token !== 'string' || token.trim() === '') {
    throw unauthenticated('no join token was presented; pass the token printed by `meshid token create`', 'join_token_missing');
  }
  const match = FORMAT.exec(token.trim());
  if (!match) {
    throw unauthenticated(
      'join token is malformed (expected mjt1.<16 hex digits>.<43 base64url characters>); copy it again in full',
      'join_token_malformed',
    );
  }
  return { id: match[1]!, hash: hashJoinToken(token.trim()) };
}
