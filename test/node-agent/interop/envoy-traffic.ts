// Continuous traffic through a client Envoy to a server Envoy in which every request is a full mTLS handshake
// between the Envoys, so each one is checked against the certificates and validation context of that moment.
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { envoyBootstrap } from '../../../node-agent/sds/envoy-bootstrap.js';
import { startEnvoy, type EnvoyProcess } from './support/envoy.js';

type Json = Record<string, unknown>;

/**
 * The agent's bootstrap (node-agent/sds/envoy-bootstrap.ts), with every request on its own upstream
 * connection and TLS session resumption off on both sides.
 */
export function freshHandshakes(bootstrap: Json): Json {
  const resources = bootstrap.static_resources as { clusters: Json[]; listeners: Json[] };
  for (const cluster of resources.clusters.filter((c) => c.name === 'outbound_peer')) {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { max_requests_per_connection: 1 },
        explicit_http_config: { http_protocol_options: {} },
      },
    };
    ((cluster.transport_socket as Json).typed_config as Json).max_session_keys = 0;
  }
  for (const listener of resources.listeners.filter((l) => l.name === 'inbound')) {
    const tls = ((listener.filter_chains as Json[])[0]!.transport_socket as Json).typed_config as Json;
    tls.disable_stateless_session_resumption = true;
    tls.disable_stateful_session_resumption = true;
  }
  return bootstrap;
}

/** One HTTP request to the client Envoy's outbound listener (a new downstream connection each time). */
export function get(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/hello', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

export interface Traffic {
  /** Requests answered as `accept` wanted. */
  readonly ok: number;
  /** Every other outcome: status and the start of the body (or the connection error). */
  readonly failed: readonly string[];
  /** Stops after the request in flight. */
  stop(): Promise<void>;
}

/** Sends requests to `socketPath` one after another until stopped. */
export function startTraffic(socketPath: string, accept: (response: { status: number; body: string }) => boolean): Traffic {
  let ok = 0;
  const failed: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await get(socketPath).catch((err: Error) => ({ status: 0, body: err.message }));
      if (accept(r)) ok++;
      else failed.push(`${r.status} ${r.body.slice(0, 200)}`);
    }
  })();
  return {
    get ok() {
      return ok;
    },
    failed,
    async stop() {
      running = false;
      await loop;
    },
  };
}

export interface EnvoyPair {
  /** Server Envoy: mTLS inbound listener in front of `app`. */
  server: EnvoyProcess;
  /** Client Envoy: plain outbound listener, mTLS to the server Envoy, which must present `serverId`. */
  client: EnvoyProcess;
  /** Where requests enter (the client Envoy's outbound listener socket). */
  clientListener: string;
  /** Answers with the x-forwarded-client-cert the server Envoy set. */
  app: http.Server;
  stop(): Promise<void>;
}

/**
 * Two real Envoys taking their certificates over SDS from the agent's sockets, every request a full mTLS
 * handshake: client Envoy -> server Envoy -> a small app behind it, all on Unix sockets under `dir`.
 */
export async function startEnvoyPair(options: { dir: string; serverSds: string; clientSds: string; serverId: string }): Promise<EnvoyPair> {
  const sock = (name: string) => path.join(options.dir, name);
  const app = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  app.listen(sock('app.sock'));
  await once(app, 'listening');

  const clientListener = sock('client-out.sock');
  const server = await startEnvoy({
    name: 'server',
    dir: options.dir,
    adminSocket: sock('server-admin.sock'),
    bootstrap: freshHandshakes(
      envoyBootstrap({
        sdsSocket: options.serverSds,
        nodeId: 'api-1',
        admin: { pipe: sock('server-admin.sock') },
        inbound: { listen: { pipe: sock('server-in.sock') }, app: { pipe: sock('app.sock') } },
      }),
    ),
  });
  const client = await startEnvoy({
    name: 'client',
    dir: options.dir,
    adminSocket: sock('client-admin.sock'),
    bootstrap: freshHandshakes(
      envoyBootstrap({
        sdsSocket: options.clientSds,
        nodeId: 'frontend-1',
        admin: { pipe: sock('client-admin.sock') },
        outbound: { listen: { pipe: clientListener }, upstream: { pipe: sock('server-in.sock') }, serverIds: [options.serverId] },
      }),
    ),
  });
  await Promise.all([server.ready(), client.ready()]);
  return {
    server,
    client,
    clientListener,
    app,
    async stop() {
      await server.stop();
      await client.stop();
      app.close();
    },
  };
}
