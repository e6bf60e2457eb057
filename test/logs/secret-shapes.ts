import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Shapes of secrets that must never appear in a log line. Written independently of core/redact.ts on
 * purpose: a pattern shared with the redactor would hide its own mistakes from this check.
 */
export const SECRET_SHAPES: ReadonlyArray<{ name: string; pattern: RegExp }> = [
  { name: 'PEM private key', pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ },
  { name: 'JWT', pattern: /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./ },
  // plugins/attestor/join-token/token-text.ts: mjt1.<16 hex id>.<43 base64url secret>; the id alone is public.
  { name: 'join token secret', pattern: /mjt1\.[0-9a-f]{16}\.[A-Za-z0-9_-]/ },
  { name: 'Bearer credential', pattern: /\bbearer\s+[A-Za-z0-9._~+/-]/i },
];

/** Names of the secret shapes found in `line`. */
export function secretShapesIn(line: string): string[] {
  return SECRET_SHAPES.filter((shape) => shape.pattern.test(line)).map((shape) => shape.name);
}

export interface ScanResult {
  files: number;
  lines: number;
  /** Lines per logger `name` field. */
  loggers: Record<string, number>;
  /** Where a secret shape was found; never the secret itself. */
  findings: string[];
}

/** Scans every `*.log` file of a capture dir (core/log.ts, MESHID_LOG_CAPTURE_DIR). */
export async function scanCaptureDir(dir: string): Promise<ScanResult> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
  const result: ScanResult = { files: files.length, lines: 0, loggers: {}, findings: [] };
  for (const file of files) {
    const lines = (await readFile(path.join(dir, file), 'utf8')).split('\n').filter(Boolean);
    lines.forEach((line, i) => {
      result.lines++;
      const name = loggerName(line);
      result.loggers[name] = (result.loggers[name] ?? 0) + 1;
      for (const shape of secretShapesIn(line)) result.findings.push(`${file}:${i + 1}: ${shape} (logger ${name})`);
    });
  }
  return result;
}

function loggerName(line: string): string {
  try {
    const { name } = JSON.parse(line) as { name?: unknown };
    return typeof name === 'string' ? name : '(unnamed)';
  } catch {
    return '(not JSON)';
  }
}
