import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { applyHttpLimits, type HttpListenerLimits } from './listener-limits.js';

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Plain-HTTP operations endpoint shared by the CA server and the node agent: /metrics (Prometheus text),
 * /healthz (the process is up: liveness only) and /readyz (`readiness()` resolves to null when ready, else
 * why not; a check that throws counts as not ready).
 */
export async function startOpsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => string | null | Promise<string | null>;
  /** Connection and timeout caps; `onConnectionRefused` runs for each connection over the cap. */
  limits: HttpListenerLimits;
  onConnectionRefused?: () => void;
}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(`metrics collection failed: ${err.message}\n`),
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      Promise.resolve()
        .then(options.readiness)
        .catch((err: Error) => `readiness check failed: ${err.message}`)
        .then((notReady) => res.writeHead(notReady ? 503 : 200, { 'content-type': 'text/plain' }).end(notReady ? `${notReady}\n` : 'ready\n'));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  applyHttpLimits(server, options.limits, options.onConnectionRefused);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
