import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { createLogger, type Logger } from './log.js';

/** One decision about an authenticated caller or an operator, as one JSON line for a SIEM. */
export interface AuditEvent {
  /** Who: an agent or workload SPIFFE ID, a service account, or "admin" for the local admin socket. */
  actor: string;
  /** What: the API method, e.g. "meshid.v1.AdminService/EvictAgent". */
  action: string;
  decision: 'allowed' | 'denied';
  /** Stable refusal label (the metrics reason), when denied. */
  reason?: string;
  /** The refusal as the caller was told it. */
  message?: string;
  /** The request's fields for admin operations (they carry no secrets; responses are never recorded). */
  request?: unknown;
}

export interface AuditLog {
  record(event: AuditEvent): void;
  close(): Promise<void>;
}

/**
 * JSON lines, one per event, through the same redacting logger as the service log: `file` is a path
 * (created 0600 in a directory created 0700) or "-" for standard output. Writes are synchronous: a record
 * is on disk before the call it describes is answered, and audited events are rare (operators, refusals).
 */
export function openAuditLog(file: string): AuditLog {
  let destination: pino.DestinationStream & { end?: () => void; flushSync?: () => void };
  if (file === '-') {
    destination = pino.destination({ dest: 1, sync: true });
  } else {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    destination = pino.destination({ dest: file, sync: true, mode: 0o600 });
  }
  const log: Logger = createLogger({ name: 'meshid-audit', destination });
  return {
    record: (event) => log.info({ audit: event }, 'audit'),
    close: () =>
      new Promise<void>((resolve) => {
        if (file === '-' || !destination.end) return resolve();
        (destination as unknown as NodeJS.WritableStream).once('close', () => resolve());
        destination.end();
      }),
  };
}
