/**
 * Log redaction, the second line of defence (code never passes secrets to the logger on purpose). Two rules:
 *
 * 1. By field name, at any depth: the value is replaced by "[redacted]" when the name, in any case, is
 *    exactly `key`, `csr`, `cookie` or `set-cookie`, or ends with `token`, `secret`, `password`, `passwd`,
 *    `privatekey`, `apikey`, `authorization` or `connectionstring` (a database URL holds its password) ("-" or
 *    "_" allowed inside `set-cookie`, `private_key`, `api_key`, `connection_string`). So `Authorization`,
 *    `joinToken`, `k8s_token`, `id_token`, `clientSecret`, `private_key`, `x-api-key`, `connectionString` are
 *    censored, while public names that merely contain such a word stay readable: `keyId`, `kid`,
 *    `keyAlgorithm`, `keyPath`, `tokenId`, `tokenHash`, `tokenFile`, `secretName`, `connectionStringFile`.
 * 2. By shape, anywhere in the finished line (messages, error messages and stacks included): PEM private key
 *    blocks, JWTs, the secret part of meshid join tokens (the public id stays) and `Bearer <credential>`.
 *
 * Errors anywhere in a logged object are reduced to type, message, stack, a primitive `code`/`reason` and
 * their cause: client libraries hang the whole HTTP request or response (headers, bodies) on their errors.
 */

const CENSOR = '[redacted]';
const SECRET_NAME = /^(?:key|csr|cookie|set[-_]?cookie)$|(?:token|secret|passw(?:or)?d|private[-_]?key|api[-_]?key|authorization|connection[-_]?string)$/i;
/** Deeper than pino's own depthLimit (5), so every level that is serialised has been walked. */
const MAX_DEPTH = 8;

export function isSecretField(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * `value` with every secret field censored and every Error made safe; the same reference when nothing had
 * to change (the common case costs one walk and no copies). Cycles become "[Circular]".
 */
export function redactFields<T>(value: T): T {
  return walk(value, 0, []) as T;
}

function walk(value: unknown, depth: number, ancestors: object[]): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Object]';
  ancestors.push(value);
  try {
    if (value instanceof Error) return safeError(value, depth, ancestors);
    if (Array.isArray(value)) return walkArray(value, depth, ancestors);
    const serialisable = value as { toJSON?: () => unknown };
    return typeof serialisable.toJSON === 'function'
      ? walk(jsonOf(serialisable as { toJSON(): unknown }), depth + 1, ancestors)
      : walkObject(value as Record<string, unknown>, depth, ancestors);
  } finally {
    ancestors.pop();
  }
}

/** What JSON.stringify would write for `value`; a log call must not throw because a toJSON did. */
function jsonOf(value: { toJSON(): unknown }): unknown {
  try {
    return value.toJSON();
  } catch {
    return '[toJSON failed]';
  }
}

function walkArray(items: unknown[], depth: number, ancestors: object[]): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const next = walk(items[i], depth + 1, ancestors);
    if (next !== items[i]) (out ??= items.slice())[i] = next;
  }
  return out ?? items;
}

function walkObject(object: Record<string, unknown>, depth: number, ancestors: object[]): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const value = object[key];
    const next = value !== undefined && value !== null && isSecretField(key) ? CENSOR : walk(value, depth + 1, ancestors);
    if (next !== value) (out ??= { ...object })[key] = next;
  }
  return out ?? object;
}

function safeError(err: Error, depth: number, ancestors: object[]): Record<string, unknown> {
  const { code, reason } = err as { code?: unknown; reason?: unknown };
  return {
    type: err.name,
    message: err.message,
    ...(isPrimitive(code) ? { code } : {}),
    ...(isPrimitive(reason) ? { reason } : {}),
    stack: err.stack,
    ...(err.cause !== undefined ? { cause: walk(err.cause, depth + 1, ancestors) } : {}),
  };
}

const isPrimitive = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';

/**
 * Secret shapes in a finished JSON log line. A PEM block ends at its END line or, if cut short, where its
 * JSON string ends, so a truncated key is censored too. A Bearer credential is RFC 6750 token68 text, so
 * help texts like "Bearer <token>" stay as they are.
 */
const SECRET_VALUE =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[^"\\]|\\.)*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|(?="))|\beyJ[\w-]+\.[\w-]+\.[\w-]*|\b(mjt1\.[0-9a-f]{16}\.)[\w-]+|\b(Bearer|bearer|BEARER)\s+[\w.~+/-]+=*/g;

/** `line` with every secret shape censored. */
export function redactSecretValues(line: string): string {
  return line.replace(SECRET_VALUE, (match: string, joinToken?: string, bearer?: string) => {
    if (joinToken) return `${joinToken}${CENSOR}`;
    if (bearer) return `${bearer} ${CENSOR}`;
    return match.startsWith('eyJ') ? '[redacted JWT]' : '[redacted private key]';
  });
}
