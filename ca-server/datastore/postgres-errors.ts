import { MeshidError } from '../../core/errors.js';

/** Socket errors, and SQLSTATEs besides class 08 (connection exception): server shutting down or starting, too many connections. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  '57P01', '57P02', '57P03', '53300',
]);
/** What pg throws, without a code, when a connection is lost or cannot be made in time. */
const UNREACHABLE_MESSAGES = /^Connection terminated|timeout exceeded when trying to connect|is not queryable/;
const AUTH_CODES = new Set(['28P01', '28000']);
/**
 * The server refused or ended this transaction (serialization failure, deadlock, lock not available,
 * idle-in-transaction timeout): retrying is the answer, as for SQLITE_BUSY.
 */
const RETRY_CODES = new Set(['40001', '40P01', '55P03', '25P03']);

/**
 * Turns pg's errors into what an operator can act on, naming the server as `user@host:port/database` and
 * never the connection string or the password: those are scrubbed from any error let through.
 */
export class PostgresErrors {
  constructor(
    private readonly target: string,
    private readonly secrets: readonly string[],
  ) {}

  async run<T>(op: () => T | Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw this.translate(err);
    }
  }

  translate(err: unknown): unknown {
    if (err instanceof MeshidError || !(err instanceof Error)) return err;
    const code = String((err as { code?: unknown }).code ?? '');
    // A socket error's message repeats the address; its code says it all ("connect ECONNREFUSED <address>:5432").
    const detail = this.scrub('syscall' in err || err.message === '' ? code : err.message);
    const at = `PostgreSQL datastore ${this.target}`;
    if (UNREACHABLE_CODES.has(code) || code.startsWith('08') || UNREACHABLE_MESSAGES.test(err.message)) {
      return new MeshidError(
        'UNAVAILABLE',
        `${at} is unreachable (${detail}); check that PostgreSQL is running and reachable from here, and the datastore connection string`,
        'datastore_unreachable',
      );
    }
    if (AUTH_CODES.has(code)) {
      const message = `${at} refused the login (${detail}); check the user and password in the datastore connection string`;
      return new MeshidError('UNAVAILABLE', message, 'datastore_auth');
    }
    if (code === '3D000') {
      const message = `${at}: ${detail}; create it, or fix the database name in the datastore connection string`;
      return new MeshidError('UNAVAILABLE', message, 'datastore_unreachable');
    }
    if (/CERT|SSL|TLS/.test(code) || /\bSSL\b/.test(err.message)) {
      return new MeshidError('UNAVAILABLE', `TLS to ${at} failed (${detail}); check datastore.tls against the server's certificate`, 'datastore_tls');
    }
    if (RETRY_CODES.has(code)) {
      return new MeshidError('UNAVAILABLE', `${at}: ${detail}; retry`, 'datastore_busy');
    }
    err.message = this.scrub(err.message);
    if (err.stack) err.stack = this.scrub(err.stack);
    return err;
  }

  private scrub(text: string): string {
    return this.secrets.reduce((t, secret) => (secret ? t.replaceAll(secret, '[redacted]') : t), text);
  }
}
