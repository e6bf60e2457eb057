import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { grpcServerOptions, type GrpcListenerLimits } from './listener-limits.js';

export type ListenTarget = { host: string; port: number } | { path: string };

/**
 * A grpc-js server whose listeners enforce GrpcListenerLimits. Streams and message size are grpc-js options;
 * grpc-js has no connection cap, so the server accepts connections on its own net.Server (whose
 * maxConnections closes each one over the cap at once) and hands the rest to grpc-js through its public
 * connection injector, which does TLS and HTTP/2 exactly as bindAsync would.
 */
export class CappedGrpcServer extends grpc.Server {
  private readonly listeners: NetServer[] = [];

  constructor(
    private readonly limits: GrpcListenerLimits,
    options: grpc.ServerOptions = {},
    /** Runs for each connection closed for being over maxConnections. */
    private readonly onRefused?: () => void,
  ) {
    super({ ...options, ...grpcServerOptions(limits) });
  }

  /** Listens on host:port (resolves with the bound port) or on a Unix socket path (resolves with 0). */
  async listen(target: ListenTarget, credentials: grpc.ServerCredentials): Promise<number> {
    const injector = this.createConnectionInjector(credentials);
    const listener = createServer((socket: Socket) => injector.injectConnection(socket));
    listener.maxConnections = this.limits.maxConnections;
    if (this.onRefused) listener.on('drop', this.onRefused);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => reject(new Error(`cannot listen on ${describe(target)}: ${err.message}`)));
      listener.listen('path' in target ? target.path : { host: target.host, port: target.port }, resolve);
    });
    this.listeners.push(listener);
    const address = listener.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  override tryShutdown(callback: (error?: Error) => void): void {
    this.stopListening();
    super.tryShutdown(callback);
  }

  override forceShutdown(): void {
    this.stopListening();
    super.forceShutdown();
  }

  private stopListening(): void {
    for (const listener of this.listeners.splice(0)) listener.close();
  }
}

function describe(target: ListenTarget): string {
  if ('path' in target) return `unix:${target.path}`;
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}
