import { expect } from 'vitest';
import { MeshidError } from '../../core/errors.js';

/** Awaits a promise that must reject with a MeshidError and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<MeshidError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, 'expected a rejection').toBeInstanceOf(MeshidError);
  return outcome as MeshidError;
}

/**
 * Asserts an UNAUTHENTICATED error with the given reason whose message (and anything else a log line could
 * carry) contains neither the token nor any of its non-trivial parts.
 */
export async function expectTokenRejected(promise: Promise<unknown>, reason: string, token: string): Promise<MeshidError> {
  const err = await rejection(promise);
  expect({ code: err.code, reason: err.reason }).toEqual({ code: 'UNAUTHENTICATED', reason });
  expectNoTokenText(err, token);
  return err;
}

export function expectNoTokenText(err: MeshidError, token: string): void {
  const surfaces = [err.message, err.stack ?? '', JSON.stringify(err)];
  const secrets = [token, ...token.split('.').filter((part) => part.length >= 16)].filter((s) => s.trim() !== '');
  for (const surface of surfaces) {
    for (const secret of secrets) expect(surface).not.toContain(secret);
  }
}
