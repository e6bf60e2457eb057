import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import { ACCEPTED_TOKEN_ALGORITHMS, tokenErrors } from './token-errors.js';

/** Kubernetes tokens are 1-2 KiB; anything far larger is refused before any parsing work. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Clock skew tolerated on exp and nbf, in seconds. Matches what kube-apiserver allows for its own
 * service-account tokens, so both verification modes agree at the edges.
 */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 30;

export interface UnverifiedJwt {
  header: ProtectedHeaderParameters;
  payload: JWTPayload;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Splits and decodes a compact JWS WITHOUT checking its signature: nothing read here may grant anything,
 * it only lets a verifier refuse a token early with a precise reason (or read exp of a token that the API
 * server has just vouched for).
 */
export function decodeUnverifiedJwt(token: string): UnverifiedJwt {
  if (typeof token !== 'string' || token.trim() === '') throw tokenErrors.missing();
  if (token.length > MAX_TOKEN_LENGTH) {
    throw tokenErrors.malformed(`it is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  if (!COMPACT_JWS.test(token)) {
    throw tokenErrors.malformed('it is not a JWT (expected three base64url parts separated by ".")');
  }
  const [header, payload] = token.split('.') as [string, string];
  return {
    header: decodeJsonPart(header, 'header') as ProtectedHeaderParameters,
    payload: decodeJsonPart(payload, 'payload') as JWTPayload,
  };
}

function decodeJsonPart(part: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw tokenErrors.malformed(`its ${name} is not base64url-encoded JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw tokenErrors.malformed(`its ${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export interface ScreenOptions {
  nowMs: number;
  /** Refuse tokens without exp (offline verification cannot otherwise bound a token's life). */
  requireExp: boolean;
}

/**
 * Decodes a token and refuses it early when its algorithm, exp or nbf already rule it out. A pass proves
 * nothing: the caller must still verify the signature (or have the API server do it).
 */
export function screenToken(token: string, opts: ScreenOptions): UnverifiedJwt {
  const jwt = decodeUnverifiedJwt(token);
  const alg = jwt.header.alg;
  if (typeof alg !== 'string' || !(ACCEPTED_TOKEN_ALGORITHMS as readonly string[]).includes(alg)) {
    throw tokenErrors.unsupportedAlg(alg);
  }
  const { exp, nbf } = jwt.payload;
  const tolerance = TOKEN_CLOCK_TOLERANCE_SECONDS * 1000;
  if (exp !== undefined && !isNumericDate(exp)) throw tokenErrors.malformed('its exp claim is not a number');
  if (nbf !== undefined && !isNumericDate(nbf)) throw tokenErrors.malformed('its nbf claim is not a number');
  if (exp === undefined && opts.requireExp) {
    throw tokenErrors.malformed('it has no exp claim, and only expiring (projected) tokens are accepted');
  }
  if (exp !== undefined && exp * 1000 + tolerance <= opts.nowMs) throw tokenErrors.expired(new Date(exp * 1000));
  if (nbf !== undefined && nbf * 1000 - tolerance > opts.nowMs) throw tokenErrors.notYetValid(new Date(nbf * 1000));
  return jwt;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
