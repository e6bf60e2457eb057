import pino, { type Logger } from 'pino';

/**
 * JSON logs. Redaction is a second line of defence: code never passes secrets to the logger, but any field
 * that could carry one is censored should it slip through.
 */
const REDACT_PATHS = [
  'token', '*.token', 'joinToken', '*.joinToken', 'join_token', '*.join_token', 'k8s_token', '*.k8s_token',
  'authorization', '*.authorization', 'headers.authorization', 'privateKey', '*.privateKey', 'key', '*.key',
  'csr', '*.csr',
];

export type { Logger };

export function createLogger(options: { level?: string; name: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    { name: options.name, level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    options.destination,
  );
}
