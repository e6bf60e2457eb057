import { ApiException } from '@kubernetes/client-node';

/**
 * One line about a failed API server call, for logs: the HTTP status and the server's message. An
 * ApiException's own message carries the whole response body and headers; nothing here echoes the request.
 */
export function describeKubeError(err: unknown): string {
  if (err instanceof ApiException) {
    const message = statusMessage(err.body);
    return message ? `HTTP ${err.code}: ${message}` : `HTTP ${err.code}`;
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode; // a refused watch
  const text = err instanceof Error ? err.message : String(err);
  return typeof status === 'number' ? `HTTP ${status}: ${text}` : text;
}

/** The message of a Status body, which client-node hands over parsed or as text. */
function statusMessage(body: unknown): string | undefined {
  let status = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return body.slice(0, 200) || undefined;
    }
  }
  const message = (status as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}
