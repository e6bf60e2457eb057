import path from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { redactFields, redactSecretValues } from './redact.js';

export type { Logger };

/**
 * When set (scripts/test.mjs does), every logger also appends its redacted lines to `<dir>/<pid>.log`, so
 * the log scan can check everything the CA, the agents and the CLI wrote during a test run.
 */
export const LOG_CAPTURE_DIR_ENV = 'MESHID_LOG_CAPTURE_DIR';

/**
 * JSON logs, redacted by core/redact.ts: secret fields at any depth and errors before serialisation, secret
 * shapes in the finished line (which is what every destination receives).
 */
export function createLogger(options: { level?: string; name: string; destination?: DestinationStream }): Logger {
  const destination = options.destination ?? pino.destination({ dest: process.stdout.fd, sync: false });
  const capture = captureDestination();
  const logger = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      formatters: { log: redactFields },
      // Errors are already reduced to safe fields by redactFields; pino's serializer would copy theirs back.
      serializers: { err: (err: unknown) => err },
      hooks: { streamWrite: redactSecretValues },
    },
    capture ? pino.multistream([{ level: 'trace', stream: destination }, { level: 'trace', stream: capture }]) : destination,
  );
  // pino serialises child bindings without formatters.log; every child inherits this override.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactFields(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

/** One synchronous append-only file per process and capture dir, shared by all its loggers. */
const captures = new Map<string, DestinationStream>();

function captureDestination(): DestinationStream | undefined {
  const dir = process.env[LOG_CAPTURE_DIR_ENV];
  if (!dir) return undefined;
  let stream = captures.get(dir);
  if (!stream) {
    stream = pino.destination({ dest: path.join(dir, `${process.pid}.log`), sync: true, append: true, mkdir: true });
    captures.set(dir, stream);
  }
  return stream;
}
