/**
 * Caps every listener of the CA and the node agent shares: connections, concurrent streams per connection and
 * request message size for gRPC listeners; connections and header/request timeouts for the plain-HTTP ops
 * listeners. One reader per kind, so the CA's `limits.grpc` and the agent's `limits.workloadSockets` are spelt
 * and validated alike.
 */
import type { Server as HttpServer } from 'node:http';
import type { ServerOptions } from '@grpc/grpc-js';
import { byteSize, ConfigError, durationSeconds, positiveInteger, rejectUnknownKeys, section } from './config-values.js';

export interface GrpcListenerLimits {
  /** Open connections; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls in flight on one connection. */
  maxConcurrentStreams: number;
  /** Largest request message; a bigger one is answered RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /** A connection with no call in flight this long is closed (GOAWAY), so idle or leaked ones free their place. */
  maxConnectionIdleMs: number;
}

export interface HttpListenerLimits {
  maxConnections: number;
  /** Time a client has to send the request headers. */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  requestTimeoutMs: number;
}

/** Defaults as they are written in configuration, e.g. { maxMessageSize: '256KiB' }. */
export interface GrpcListenerDefaults {
  maxConnections: number;
  maxConcurrentStreams: number;
  maxMessageSize: string;
  maxConnectionIdle: string;
}

export interface HttpListenerDefaults {
  maxConnections: number;
  headersTimeout: string;
  requestTimeout: string;
}

export function readGrpcListenerLimits(key: string, value: unknown, d: GrpcListenerDefaults): GrpcListenerLimits {
  const raw = section(key, value);
  rejectUnknownKeys(key, raw, ['maxConnections', 'maxConcurrentStreams', 'maxMessageSize', 'maxConnectionIdle']);
  return {
    maxConnections: positiveInteger(`${key}.maxConnections`, raw.maxConnections ?? d.maxConnections),
    maxConcurrentStreams: positiveInteger(`${key}.maxConcurrentStreams`, raw.maxConcurrentStreams ?? d.maxConcurrentStreams),
    maxMessageBytes: byteSize(`${key}.maxMessageSize`, raw.maxMessageSize ?? d.maxMessageSize),
    maxConnectionIdleMs: positiveMs(`${key}.maxConnectionIdle`, raw.maxConnectionIdle ?? d.maxConnectionIdle),
  };
}

export function readHttpListenerLimits(key: string, value: unknown, d: HttpListenerDefaults): HttpListenerLimits {
  const raw = section(key, value);
  rejectUnknownKeys(key, raw, ['maxConnections', 'headersTimeout', 'requestTimeout']);
  const ms = (name: 'headersTimeout' | 'requestTimeout') => positiveMs(`${key}.${name}`, raw[name] ?? d[name]);
  const limits = {
    maxConnections: positiveInteger(`${key}.maxConnections`, raw.maxConnections ?? d.maxConnections),
    headersTimeoutMs: ms('headersTimeout'),
    requestTimeoutMs: ms('requestTimeout'),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(`${key}.headersTimeout`, `must not exceed ${key}.requestTimeout (${limits.requestTimeoutMs / 1000}s): the headers are part of the request`);
  }
  return limits;
}

/** The grpc-js server options that enforce the stream, message and idle caps (connections: see CappedGrpcServer). */
export function grpcServerOptions(limits: GrpcListenerLimits): ServerOptions {
  return {
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
  };
}

function positiveMs(key: string, value: unknown): number {
  const seconds = durationSeconds(key, value);
  if (seconds <= 0) throw new ConfigError(key, 'must be greater than zero');
  return Math.round(seconds * 1000);
}

/** Applies the caps to a node:http server; `onRefused` runs for each connection closed for being one too many. */
export function applyHttpLimits(server: HttpServer, limits: HttpListenerLimits, onRefused?: () => void): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  if (onRefused) server.on('drop', onRefused);
}
