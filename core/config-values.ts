/**
 * Typed readers for configuration values coming from YAML, environment variables or flags. Each throws a
 * ConfigError naming the key, so a bad value is reported as `svid.maxTtl: ...` and never guessed at.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`config ${key}: ${detail}`);
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Seconds from "90s", "10m", "1h", "7d", "1h30m", or a plain number of seconds. */
export function durationSeconds(key: string, value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    if (/^\d+$/.test(value)) return Number(value);
    let total = 0;
    const parts = value.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g);
    if (parts && parts.join('') === value) {
      for (const part of parts) {
        const [, n, unit] = DURATION.exec(part)!;
        total += Number(n) * DURATION_UNITS[unit!]!;
      }
      return total;
    }
  }
  throw new ConfigError(key, `expected a duration like "90s", "10m", "24h" or "7d", got ${show(value)}`);
}

export function str(key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ConfigError(key, `expected a string, got ${show(value)}`);
}

export function bool(key: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(key, `expected true or false, got ${show(value)}`);
}

export function oneOf<T extends string>(key: string, value: unknown, allowed: readonly T[]): T {
  const s = str(key, value);
  if ((allowed as readonly string[]).includes(s)) return s as T;
  throw new ConfigError(key, `expected one of ${allowed.join(', ')}, got ${show(value)}`);
}

/** A list from YAML, or a comma-separated string from env/flags. */
export function list(key: string, value: unknown): string[] {
  if (Array.isArray(value)) return value.map((v, i) => str(`${key}[${i}]`, v));
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  throw new ConfigError(key, `expected a list, got ${show(value)}`);
}

/** "host:port" or ":port" (all interfaces); port 0 picks a free port. */
export function listenAddress(key: string, value: unknown): { host: string; port: number } {
  const s = str(key, value);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(key, `expected "host:port" (e.g. "0.0.0.0:15012"), got ${show(value)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A whole number of at least 1, from YAML or as a string from env/flags. */
export function positiveInteger(key: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(key, `expected a whole number of at least 1, got ${show(value)}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, KiB: 1024, MiB: 1024 * 1024 };

/** Bytes from "256KiB", "4MiB" or a plain number of bytes. */
export function byteSize(key: string, value: unknown): number {
  const m = /^(\d+)(KiB|MiB)?$/.exec(typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '');
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2] ?? '']! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new ConfigError(key, `expected a size like "256KiB", "4MiB" or a number of bytes, got ${show(value)}`);
  }
  return bytes;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Merges configuration layers: YAML object, then env `PREFIX_A__B_C=v` (-> a.bC), then flags `--a.bC=v`.
 * Returns a nested plain object; typing and validation happen in each component's config reader.
 */
export function mergeLayers(
  file: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  envPrefix: string,
  flags: Record<string, string>,
): Record<string, unknown> {
  const out = structuredClone(file);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(envPrefix) || value === undefined) continue;
    const path = name
      .slice(envPrefix.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    setPath(out, path, value);
  }
  for (const [key, value] of Object.entries(flags)) setPath(out, key.split('.'), value);
  return out;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  const bad = path.find((part) => FORBIDDEN_KEYS.has(part) || part === '');
  if (bad !== undefined) throw new ConfigError(path.join('.'), `"${bad}" is not a setting name`);
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Rejects keys the reader does not know, so a typo is an error instead of a silently ignored setting. */
export function rejectUnknownKeys(prefix: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ConfigError(prefix ? `${prefix}.${key}` : key, `unknown setting (known: ${known.join(', ')})`);
    }
  }
}

export function section(key: string, value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new ConfigError(key, `expected a mapping, got ${show(value)}`);
}
