// Runs the provisioned Envoy on a bootstrap for a test, and serves gRPC to it over Unix sockets.
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { requirePeer } from './peers.js';

export interface EnvoyProcess {
  /** Resolves once Envoy's log contains `text`; rejects if Envoy exits first. */
  logged(text: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Envoy on `bootstrap` (written to dir/envoy.json): one worker, no hot restart, info log. */
export function startEnvoy(bootstrap: object, dir: string): EnvoyProcess {
  const config = path.join(dir, 'envoy.json');
  writeFileSync(config, JSON.stringify(bootstrap));
  const child = spawn(requirePeer('envoy'), ['-c', config, '--disable-hot-restart', '--concurrency', '1', '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const events = new EventEmitter();
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log += chunk.toString();
    events.emit('log');
  });
  child.on('exit', () => events.emit('log'));

  return {
    async logged(text) {
      while (!log.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`envoy exited before logging "${text}":\n${log.slice(-4000)}`);
        }
        await once(events, 'log');
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Static cluster `name` reaching a gRPC server on a Unix socket over HTTP/2. */
export function grpcPipeCluster(name: string, socketPath: string) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }],
    },
  };
}

export function bindUnixSocket(server: grpc.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
}
