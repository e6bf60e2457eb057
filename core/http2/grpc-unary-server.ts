/**
 * A lean gRPC server for unary methods, speaking HTTP/2 (RFC 9113) directly on a net or TLS socket.
 *
 * Why not grpc-js or node:http2: on the hot paths they cost 100-150 µs of JavaScript per call and allocate
 * enough per stream that scavenges pause the event loop for milliseconds every few hundred calls, so the
 * ext_authz p99 target (< 1 ms at 5,000 checks/s) is out of reach with either. This server parses frames
 * straight from the socket's chunks, answers with precomputed header blocks and one write per response,
 * and implements only what a unary gRPC server needs: SETTINGS, PING, flow control in both directions,
 * RST_STREAM, GOAWAY, CONTINUATION, padding. Streaming methods stay on grpc-js.
 *
 * It is a trust boundary, so it bounds what a peer can make it hold, as node:http2 does by default:
 * - streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS, REFUSED_STREAM beyond; a stream the peer
 *   resets keeps its slot until its handler settles), the header list (SETTINGS_MAX_HEADER_LIST_SIZE) and
 *   frame sizes (16 KiB);
 * - request bytes: connection-level credit (WINDOW_UPDATE) returns only once a request reaches its handler
 *   or is discarded, so the connection window bounds what is buffered; stream-level credit returns as the
 *   message is assembled, bounded by maxMessageBytes;
 * - bytes queued for the peer: reading stops while the socket's write queue is above WRITE_HIGH_WATER, and
 *   response DATA waits; floods of frames that need an answer or carry nothing are capped (flood-guard.ts);
 * - time: the client preface, idle connections, and each call's grpc-timeout.
 *
 * Peer errors (RFC 9113 §5.4) close the connection with GOAWAY and a reason, or reset the one stream, and
 * are logged without header values; other connections keep being served.
 */
import type net from 'node:net';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from '../grpc-errors.js';
import { FloodGuard, MAX_EMPTY_FRAMES, MAX_QUEUED_CONTROL_FRAMES, RESET_BURST, RESET_RATE } from './flood-guard.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  FRAME_HEADER_BYTES,
  FrameFlag,
  FrameType,
  H2Error,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  SETTINGS_ACK,
  Setting,
  encodeFrame,
  encodeGoaway,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './frames.js';
import { HpackDecoder, HpackError, indexedHeaderField, literalHeaderField, literalWithIndexedName } from './hpack.js';
import { RequestHead, trailerProblem } from './request-head.js';

export interface UnaryCall {
  /** The gRPC path, "/package.Service/Method". */
  readonly method: string;
  /**
   * Request metadata: lower-case names; repeated names joined with ", ". Pseudo-headers and content-type
   * left out. A prototype-free object: "__proto__" or "constructor" are plain names.
   */
  readonly metadata: Readonly<Record<string, string>>;
  /** The serialised request message. */
  readonly message: Buffer;
  /** The connection, e.g. a TLSSocket for the peer certificate. */
  readonly socket: net.Socket;
}

/**
 * Answers with the serialised response message, or throws / rejects: a MeshidError becomes its gRPC status
 * and message, anything else INTERNAL without details (and is logged), as on every meshid gRPC API.
 * A call whose grpc-timeout passes first is answered DEADLINE_EXCEEDED; its late result is dropped.
 */
export type UnaryHandler = (call: UnaryCall) => Buffer | Promise<Buffer>;

export interface UnaryGrpcOptions {
  /** Handlers by gRPC path. Other paths are answered UNIMPLEMENTED. */
  handlers: ReadonlyMap<string, UnaryHandler>;
  log: Logger;
  /** Largest request message accepted; larger ones get RESOURCE_EXHAUSTED. Default 4 MiB (grpc's default). */
  maxMessageBytes?: number;
  /** Streams one connection may have open; more are refused (REFUSED_STREAM). Default 1,000. */
  maxConcurrentStreams?: number;
  /**
   * Largest request header list, counted as RFC 9113 §6.5.2 does (name + value + 32 octets a field);
   * larger requests get RESOURCE_EXHAUSTED. Default 16 KiB (gRPC suggests 8 KiB; Envoy's ext_authz calls
   * carry well under 1 KiB).
   */
  maxHeaderListBytes?: number;
  /** A connection that has not sent the client preface and its SETTINGS by then is closed. Default 10 s. */
  prefaceTimeoutMs?: number;
  /**
   * A connection without open streams and without traffic for this long gets GOAWAY and is closed; one
   * with streams but no traffic while our writes are queued (the peer stopped reading) is destroyed.
   * Default 5 minutes; 0 turns it off.
   */
  idleTimeoutMs?: number;
  /** Connections served at once; accept() turns more away with GOAWAY ENHANCE_YOUR_CALM. Default unlimited. */
  maxConnections?: number;
}

export interface UnaryGrpcServer {
  /** Serves one accepted connection (a net.Socket, or a TLSSocket that negotiated "h2"). */
  accept(socket: net.Socket): void;
  readonly connections: number;
  /**
   * Graceful stop: every connection gets GOAWAY, calls in flight are answered, then sockets close.
   * Connections still open after `graceMs` are destroyed.
   */
  close(graceMs?: number): Promise<void>;
}

/** Reading pauses while more than this is queued for the peer; response DATA waits too. */
export const WRITE_HIGH_WATER = 256 * 1024;
/** The window we grant each stream, topped up once a quarter is used. */
const STREAM_WINDOW = 1 << 20;
/** A socket we ended is destroyed if the peer has not closed it by then. */
const LINGER_MS = 2000;
/** setTimeout's limit; a longer grpc-timeout is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

// Precomputed response header blocks (HPACK literals without indexing: no shared encoder state).
const RESPONSE_HEADERS = Buffer.concat([
  indexedHeaderField(8), // :status 200
  literalWithIndexedName(31, 'application/grpc'), // content-type
  literalHeaderField('grpc-accept-encoding', 'identity'),
]);
const OK_TRAILERS = literalHeaderField('grpc-status', '0');

/** Answers to non-gRPC requests (gRPC over HTTP/2: HTTP 415 for another content-type), with a body saying why. */
const HTTP_ANSWERS = {
  405: httpAnswer('405', 'Method Not Allowed', [literalWithIndexedName(22, 'POST')]), // allow
  415: httpAnswer('415', 'Unsupported Media Type', []),
};

function httpAnswer(code: string, reason: string, extra: Buffer[]): { headers: Buffer; body: Buffer } {
  return {
    headers: Buffer.concat([literalWithIndexedName(8, code), literalWithIndexedName(31, 'text/plain; charset=utf-8'), ...extra]),
    body: Buffer.from(`${code} ${reason}: this is a gRPC server; send POST requests with content-type application/grpc\n`),
  };
}

export function createUnaryGrpcServer(options: UnaryGrpcOptions): UnaryGrpcServer {
  const live = new Set<Http2Connection>();
  let closing = false;
  const maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
  const settings: Settings = {
    handlers: options.handlers,
    log: options.log,
    maxMessageBytes,
    maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
    maxHeaderListBytes: options.maxHeaderListBytes ?? 16 * 1024,
    prefaceTimeoutMs: options.prefaceTimeoutMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
    // Room for two largest requests arriving at once. Credit comes back as handlers take requests, so a
    // client interleaving more partial bytes than this across streams waits (until its deadline).
    connectionWindow: Math.min(MAX_WINDOW, Math.max(DEFAULT_WINDOW, 2 * (maxMessageBytes + 5))),
  };
  const maxConnections = options.maxConnections ?? Infinity;
  return {
    accept(socket) {
      if (closing) {
        socket.destroy();
        return;
      }
      if (live.size >= maxConnections) {
        settings.log.warn({ limit: maxConnections }, 'refusing gRPC connection: too many connections');
        socket.on('error', () => undefined);
        socket.resume(); // discard whatever the client sends until it closes
        closeSoon(socket, Buffer.concat([encodeSettings([]), encodeGoaway(0, H2Error.ENHANCE_YOUR_CALM, `too many connections (limit ${maxConnections})`)]));
        return;
      }
      const connection = new Http2Connection(socket, settings);
      live.add(connection);
      socket.once('close', () => live.delete(connection));
    },
    get connections() {
      return live.size;
    },
    async close(graceMs = 5000) {
      closing = true;
      const closed = [...live].map((c) => new Promise<void>((resolve) => (c.socket.destroyed ? resolve() : c.socket.once('close', () => resolve()))));
      for (const connection of live) connection.goAway('server shutting down');
      const timer = setTimeout(() => {
        for (const connection of live) connection.socket.destroy();
      }, graceMs);
      await Promise.all(closed);
      clearTimeout(timer);
    },
  };
}

interface Settings {
  handlers: ReadonlyMap<string, UnaryHandler>;
  log: Logger;
  maxMessageBytes: number;
  maxConcurrentStreams: number;
  maxHeaderListBytes: number;
  prefaceTimeoutMs: number;
  idleTimeoutMs: number;
  connectionWindow: number;
}

const EMPTY = Buffer.alloc(0);

/** A request stream from its HEADERS until the response's END_STREAM (or a reset). */
class Stream {
  readonly head = new RequestHead();
  /** Request body bytes received (padding excluded), kept or discarded. */
  received = 0;
  private body: Buffer = EMPTY;
  private bodyLength = 0;
  private bodyOwned = false;
  /** Flow-controlled bytes held against the connection window until the handler takes the request. */
  held = 0;
  /** Bytes assembled since the last WINDOW_UPDATE we sent for this stream. */
  unacked = 0;
  /** Non-zero: an HTTP-level refusal (405, 415), answered once the request ends; its body is discarded. */
  httpStatus: 0 | 405 | 415 = 0;
  /** performance.now() by which the client wants an answer (grpc-timeout); Infinity for none. */
  deadline = Infinity;
  timer: NodeJS.Timeout | undefined;
  /** An asynchronous handler is running. */
  inHandler = false;
  /** Answered or reset: no longer in the connection's map. */
  closed = false;
  /** Response DATA (then trailers, or END_STREAM on the last DATA) waiting for window or a drained socket. */
  pendingData: Buffer | undefined;
  pendingTrailers: Buffer | undefined;
  waiting = false;

  constructor(
    readonly id: number,
    /** What the peer still lets us send on this stream. */
    public sendWindow: number,
    /** The client's END_STREAM arrived: the request is complete. */
    public ended: boolean,
  ) {}

  /**
   * Keeps request body bytes. A body in one DATA frame (the usual unary request) stays a view of it; any
   * other is copied into a buffer grown by doubling up to `cap`, so a request sent as many small frames
   * costs no object per frame and pins none of the socket's chunks.
   */
  appendBody(bytes: Buffer, last: boolean, cap: number): void {
    if (this.bodyLength === 0 && last) {
      this.body = bytes;
      this.bodyLength = bytes.length;
      return;
    }
    const needed = this.bodyLength + bytes.length;
    if (!this.bodyOwned || needed > this.body.length) {
      const grown = Buffer.allocUnsafe(this.bodyOwned ? Math.max(needed, Math.min(2 * this.body.length, cap)) : needed);
      this.body.copy(grown, 0, 0, this.bodyLength);
      this.body = grown;
      this.bodyOwned = true;
    }
    bytes.copy(this.body, this.bodyLength);
    this.bodyLength = needed;
  }

  /** Hands the body over (to the handler) and forgets it. */
  takeBody(): Buffer {
    const body = this.body.subarray(0, this.bodyLength);
    this.body = EMPTY;
    this.bodyLength = 0;
    this.bodyOwned = false;
    return body;
  }
}

/** A peer's protocol violation: the connection ends with GOAWAY(code). */
class ConnectionError extends Error {
  constructor(
    readonly code: H2Error,
    message: string,
  ) {
    super(message);
  }
}

class Http2Connection {
  /**
   * An incomplete frame (or preface): its chunks, joined once `partialNeed` bytes are in, so a frame
   * trickled in byte by byte costs one copy, not one per chunk.
   */
  private readonly partial: Buffer[] = [];
  private partialBytes = 0;
  private partialNeed = 0;
  private prefaceSeen = false;
  private settingsSeen = false;
  private readonly decoder: HpackDecoder;
  private readonly streams = new Map<number, Stream>();
  private lastStreamId = 0;
  /**
   * Streams we reset or answered before the client's END_STREAM: frames the client had already sent on
   * them are ignored (RFC 9113 §5.1), not errors. Oldest forgotten past maxConcurrentStreams entries.
   */
  private readonly ignored = new Set<number>();
  /** A header block split over HEADERS + CONTINUATION frames. */
  private continuing: { streamId: number; endStream: boolean; selfDependent: boolean; fragments: Buffer[]; length: number } | null = null;
  /** The request head a header block is decoded into; null while decoding trailers. */
  private decoding: RequestHead | null = null;
  private trailerProblem = '';
  private readonly onField = (name: string, value: string): void => {
    if (this.decoding) this.decoding.add(name, value);
    else if (!this.trailerProblem) this.trailerProblem = trailerProblem(name, value);
  };
  private sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private recvWindow: number;
  /** Connection-level credit consumed but not yet returned with WINDOW_UPDATE. */
  private unacked = 0;
  /** Reset streams whose handler is still running: they keep their concurrency slot. */
  private abandoned = 0;
  /** Streams with response DATA waiting. */
  private waitingStreams = 0;
  private readonly guard = new FloodGuard();
  private readingPaused = false;
  /** Response DATA waits for the write queue to drain below WRITE_HIGH_WATER. */
  private writeBlocked = false;
  private readonly prefaceTimer: NodeJS.Timeout;
  private goingAway = false;
  private dead = false;

  constructor(
    readonly socket: net.Socket,
    private readonly settings: Settings,
  ) {
    this.decoder = new HpackDecoder(4096, settings.maxHeaderListBytes);
    this.recvWindow = settings.connectionWindow;
    socket.setNoDelay?.(true);
    const preface = [
      encodeSettings([
        [Setting.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, settings.maxHeaderListBytes],
        [Setting.ENABLE_PUSH, 0],
      ]),
    ];
    if (settings.connectionWindow > DEFAULT_WINDOW) preface.push(encodeWindowUpdate(0, settings.connectionWindow - DEFAULT_WINDOW));
    socket.write(Buffer.concat(preface));
    this.prefaceTimer = setTimeout(this.onPrefaceTimeout, settings.prefaceTimeoutMs).unref();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('timeout', () => this.onIdle());
    socket.on('error', (err) => settings.log.debug({ err: err.message }, 'gRPC connection error'));
    socket.on('close', () => {
      this.dead = true;
      clearTimeout(this.prefaceTimer);
      for (const stream of this.streams.values()) clearTimeout(stream.timer);
      this.streams.clear();
      this.ignored.clear();
    });
  }

  /** Stop taking new streams; close once the ones in flight are answered. */
  goAway(reason: string): void {
    if (this.goingAway || this.dead) return;
    this.goingAway = true;
    this.socket.write(encodeGoaway(this.lastStreamId, H2Error.NO_ERROR, reason));
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.dead) {
      this.dead = true;
      closeSoon(this.socket);
    }
  }

  private readonly onPrefaceTimeout = (): void => {
    this.fail(new ConnectionError(H2Error.PROTOCOL_ERROR, `no HTTP/2 client preface and SETTINGS within ${this.settings.prefaceTimeoutMs} ms`));
  };

  /** No traffic either way for idleTimeoutMs. */
  private onIdle(): void {
    if (this.dead) return;
    if (this.streams.size === 0) {
      this.settings.log.debug({ idleMs: this.settings.idleTimeoutMs }, 'closing idle gRPC connection');
      this.goAway(`idle for ${this.settings.idleTimeoutMs} ms`);
    } else if (this.socket.writableLength > 0) {
      this.settings.log.warn({ queued: this.socket.writableLength, idleMs: this.settings.idleTimeoutMs }, 'destroying gRPC connection: the client stopped reading');
      this.socket.destroy();
    }
  }

  private onDrain(): void {
    if (this.dead) return;
    this.guard.writeQueueEmptied();
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    this.socket.cork();
    this.flushPending();
    this.socket.uncork();
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    let buf = chunk;
    if (this.partialBytes > 0) {
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.partialNeed) return;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial.length = 0;
      this.partialBytes = 0;
    }
    this.socket.cork();
    try {
      let offset = 0;
      if (!this.prefaceSeen) {
        if (buf.length < CLIENT_PREFACE.length) {
          if (!CLIENT_PREFACE.subarray(0, buf.length).equals(buf)) throw notHttp2();
          this.keepPartial(buf, CLIENT_PREFACE.length);
          return;
        }
        if (!CLIENT_PREFACE.equals(buf.subarray(0, CLIENT_PREFACE.length))) throw notHttp2();
        this.prefaceSeen = true;
        offset = CLIENT_PREFACE.length;
      }
      while (buf.length - offset >= FRAME_HEADER_BYTES && !this.dead) {
        const length = buf.readUIntBE(offset, 3);
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
        const end = offset + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[offset + 3]!;
        const flags = buf[offset + 4]!;
        const streamId = buf.readUInt32BE(offset + 5) & 0x7fffffff;
        this.onFrame(type, flags, streamId, buf.subarray(offset + FRAME_HEADER_BYTES, end));
        offset = end;
      }
      if (offset < buf.length) {
        const rest = buf.subarray(offset);
        this.keepPartial(rest, rest.length >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + rest.readUIntBE(0, 3) : FRAME_HEADER_BYTES);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.socket.uncork();
    }
    this.afterChunk();
  }

  private keepPartial(bytes: Buffer, need: number): void {
    this.partial.push(bytes);
    this.partialBytes = bytes.length;
    this.partialNeed = need;
  }

  /**
   * Backpressure, once a chunk's writes have gone to the socket: top the write queue up with waiting
   * response DATA, then stop reading while it stays above WRITE_HIGH_WATER (until 'drain').
   */
  private afterChunk(): void {
    if (this.dead) return;
    if (this.writeBlocked && this.socket.writableLength < WRITE_HIGH_WATER) {
      this.socket.cork();
      this.flushPending();
      this.socket.uncork();
    }
    const queued = this.socket.writableLength;
    if (queued === 0) this.guard.writeQueueEmptied();
    else if (queued >= WRITE_HIGH_WATER && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame after the preface must be SETTINGS');
    if (this.continuing && type !== FrameType.CONTINUATION) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'header block interrupted before END_HEADERS');
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING payload must be 8 bytes');
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (!(flags & FrameFlag.ACK)) this.writeOwed(encodeFrame(FrameType.PING, FrameFlag.ACK, 0, payload));
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.PRIORITY:
        return this.onPriority(streamId, payload);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        this.goingAway = true;
        this.endIfIdle();
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'clients must not send PUSH_PROMISE');
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** Writes a frame the peer's frame asked for (an ACK, an RST_STREAM), counting it against floods. */
  private writeOwed(frame: Buffer): void {
    if (this.guard.controlFrameQueued()) {
      throw calm(`more than ${MAX_QUEUED_CONTROL_FRAMES} PING/SETTINGS acknowledgements and RST_STREAMs queued for a client that does not read them`);
    }
    this.socket.write(frame);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FrameFlag.ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6 bytes');
    if (!this.settingsSeen) {
      this.settingsSeen = true;
      clearTimeout(this.prefaceTimer);
      this.socket.setTimeout(this.settings.idleTimeoutMs);
    }
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE takes stream ${stream.id}'s window above 2^31-1`);
        }
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.peerMaxFrameSize = value;
      } else if (id === Setting.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
      }
    }
    this.writeOwed(SETTINGS_ACK);
    this.flushPending();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload must be 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE with an increment of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      return this.flushPending();
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      return; // a stream we already finished
    }
    if (increment === 0) return this.resetStream(stream, H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE with an increment of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.resetStream(stream, H2Error.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
    if (stream.waiting) this.flushStream(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    if (this.guard.peerReset()) throw calm(`streams reset faster than ${RESET_BURST} at once or ${RESET_RATE} a second`);
    const stream = this.streams.get(streamId);
    if (stream) this.closeStream(stream);
    else this.ignored.delete(streamId);
  }

  private onPriority(streamId: number, payload: Buffer): void {
    if (payload.length !== 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY payload must be 5 bytes');
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
    if ((payload.readUInt32BE(0) & 0x7fffffff) !== streamId) return; // priorities are advisory: ignored
    const stream = this.streams.get(streamId);
    if (!stream) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `stream ${streamId} made dependent on itself`);
    this.resetStream(stream, H2Error.PROTOCOL_ERROR, 'stream made dependent on itself');
  }

  private onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = payload.length;
    if (flags & FrameFlag.PADDED) {
      const pad = payload[0] ?? 0;
      start = 1;
      end -= pad;
    }
    let selfDependent = false;
    if (flags & FrameFlag.PRIORITY) {
      selfDependent = payload.length >= start + 4 && (payload.readUInt32BE(start) & 0x7fffffff) === streamId;
      start += 5;
    }
    if (start > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS padding or priority longer than the frame');
    const fragment = payload.subarray(start, end);
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    if (flags & FrameFlag.END_HEADERS) return this.onHeaderBlock(streamId, endStream, selfDependent, fragment);
    if (fragment.length === 0 && this.guard.emptyFrame()) throw emptyFlood();
    this.continuing = { streamId, endStream, selfDependent, fragments: fragment.length > 0 ? [fragment] : [], length: fragment.length };
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.continuing;
    if (!block || block.streamId !== streamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress on that stream');
    const endHeaders = (flags & FrameFlag.END_HEADERS) !== 0;
    if (payload.length === 0 && !endHeaders && this.guard.emptyFrame()) throw emptyFlood();
    if (payload.length > 0) block.fragments.push(payload);
    block.length += payload.length;
    // A block's encoded size never exceeds its decoded size by much, so this bounds what a CONTINUATION
    // flood (CVE-2024-27316) can make us buffer.
    if (block.length > this.settings.maxHeaderListBytes) throw calm(`header block larger than ${this.settings.maxHeaderListBytes} bytes`);
    if (!endHeaders) return;
    this.continuing = null;
    this.onHeaderBlock(streamId, block.endStream, block.selfDependent, Buffer.concat(block.fragments, block.length));
  }

  /** Decodes a header block into `head`, or as trailers when null; false when it exceeded the header list limit. */
  private decodeBlock(block: Buffer, head: RequestHead | null): boolean {
    this.decoding = head;
    this.trailerProblem = '';
    try {
      return this.decoder.decode(block, this.onField);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, err.message);
      throw err;
    } finally {
      this.decoding = null;
    }
  }

  private onHeaderBlock(streamId: number, endStream: boolean, selfDependent: boolean, block: Buffer): void {
    const existing = this.streams.get(streamId);
    if (existing) return this.onTrailers(existing, endStream, block);
    if (streamId % 2 === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS opening even stream ${streamId} (client streams are odd)`);
    if (streamId <= this.lastStreamId) {
      this.decodeBlock(block, null); // HPACK state is shared: every block is decoded, even one then ignored
      if (!this.ignored.has(streamId)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which is closed (new streams need ids above ${this.lastStreamId})`);
      if (endStream) this.ignored.delete(streamId);
      return;
    }
    this.lastStreamId = streamId;
    const stream = new Stream(streamId, this.peerInitialWindow, endStream);
    const fits = this.decodeBlock(block, stream.head);
    if (selfDependent) return this.refuse(streamId, endStream, H2Error.PROTOCOL_ERROR);
    if (this.goingAway || this.streams.size + this.abandoned >= this.settings.maxConcurrentStreams) return this.refuse(streamId, endStream, H2Error.REFUSED_STREAM);
    this.streams.set(streamId, stream);
    const head = stream.head;
    if (!fits) return this.answerStatus(stream, status.RESOURCE_EXHAUSTED, `request headers larger than ${this.settings.maxHeaderListBytes} bytes`);
    head.complete();
    if (head.malformed) return this.resetStream(stream, H2Error.PROTOCOL_ERROR, head.malformed);
    if (head.method !== 'POST') stream.httpStatus = 405;
    else if (!head.contentType.startsWith('application/grpc')) stream.httpStatus = 415;
    else if (!this.settings.handlers.has(head.path)) return this.answerStatus(stream, status.UNIMPLEMENTED, `unknown method ${head.path}`);
    else if (Number.isNaN(head.timeoutMs)) return this.answerStatus(stream, status.INTERNAL, 'malformed grpc-timeout header');
    else if (head.timeoutMs !== Infinity) stream.deadline = performance.now() + head.timeoutMs;
    if (endStream) this.onRequestEnd(stream);
  }

  private onTrailers(stream: Stream, endStream: boolean, block: Buffer): void {
    this.decodeBlock(block, null); // trailers are unused by unary gRPC, but checked
    if (stream.ended) return this.resetStream(stream, H2Error.STREAM_CLOSED, 'HEADERS after END_STREAM');
    if (!endStream) return this.resetStream(stream, H2Error.PROTOCOL_ERROR, 'trailers without END_STREAM');
    if (this.trailerProblem) return this.resetStream(stream, H2Error.PROTOCOL_ERROR, this.trailerProblem);
    this.onRequestEnd(stream);
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    let start = 0;
    let end = payload.length;
    if (flags & FrameFlag.PADDED) {
      start = 1;
      end -= payload[0] ?? 0;
      if (start > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA padding longer than the frame');
    }
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    if (payload.length === 0 && !endStream && this.guard.emptyFrame()) throw emptyFlood();
    this.recvWindow -= payload.length;
    if (this.recvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const stream = this.streams.get(streamId);
    if (!stream || stream.ended) this.release(payload.length);
    if (!stream) {
      if (streamId > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      if (!this.ignored.has(streamId)) throw new ConnectionError(H2Error.STREAM_CLOSED, `DATA on closed stream ${streamId}`);
      if (endStream) this.ignored.delete(streamId);
      return;
    }
    if (stream.ended) return this.resetStream(stream, H2Error.STREAM_CLOSED, 'DATA after END_STREAM');
    const size = end - start;
    stream.received += size;
    const contentLength = stream.head.contentLength;
    if (contentLength >= 0 && stream.received > contentLength) {
      this.release(payload.length);
      return this.resetStream(stream, H2Error.PROTOCOL_ERROR, 'more DATA than content-length');
    }
    if (stream.httpStatus !== 0 || size === 0) {
      this.release(payload.length); // discarded
    } else if (stream.received > this.settings.maxMessageBytes + 5) {
      this.release(payload.length);
      return this.answerStatus(stream, status.RESOURCE_EXHAUSTED, `request message larger than the ${this.settings.maxMessageBytes}-byte limit`);
    } else {
      this.release(payload.length - size); // padding
      stream.held += size;
      stream.appendBody(payload.subarray(start, end), endStream, this.settings.maxMessageBytes + 5);
    }
    if (endStream) return this.onRequestEnd(stream);
    stream.unacked += payload.length;
    if (stream.unacked >= STREAM_WINDOW / 4) {
      this.socket.write(encodeWindowUpdate(streamId, stream.unacked));
      stream.unacked = 0;
    }
  }

  /** Connection-level credit for request bytes no longer buffered; returned a quarter window at a time. */
  private release(bytes: number): void {
    this.unacked += bytes;
    if (this.unacked < this.settings.connectionWindow / 4 || this.dead) return;
    this.socket.write(encodeWindowUpdate(0, this.unacked));
    this.recvWindow += this.unacked;
    this.unacked = 0;
  }

  /** The request is complete: unwrap the one gRPC message and run the handler. */
  private onRequestEnd(stream: Stream): void {
    stream.ended = true;
    const head = stream.head;
    if (head.contentLength >= 0 && stream.received !== head.contentLength) return this.resetStream(stream, H2Error.PROTOCOL_ERROR, 'less DATA than content-length');
    if (stream.httpStatus !== 0) return this.answerHttp(stream, stream.httpStatus);
    this.guard.requestCompleted();
    const body = stream.takeBody();
    this.release(stream.held); // the handler has the request now
    stream.held = 0;
    if (stream.deadline !== Infinity && performance.now() >= stream.deadline) return this.answerStatus(stream, status.DEADLINE_EXCEEDED, 'deadline exceeded before the request arrived');
    if (body.length < 5) return this.answerStatus(stream, status.INTERNAL, 'the request carried no gRPC message');
    if (body[0] !== 0) return this.answerStatus(stream, status.UNIMPLEMENTED, 'compressed request messages are not supported; send grpc-encoding identity');
    const length = body.readUInt32BE(1);
    if (length !== body.length - 5) return this.answerStatus(stream, status.INTERNAL, `unary request must hold exactly one message (declared ${length} bytes, received ${body.length - 5})`);
    const handler = this.settings.handlers.get(head.path)!;
    let result: Buffer | Promise<Buffer>;
    try {
      result = handler({ method: head.path, metadata: head.metadata, message: body.subarray(5), socket: this.socket });
    } catch (err) {
      return this.answerError(stream, err);
    }
    if (Buffer.isBuffer(result)) return this.answer(stream, result);
    stream.inHandler = true;
    const remaining = stream.deadline - performance.now();
    if (remaining <= MAX_TIMER_MS) stream.timer = setTimeout(this.onDeadline, Math.max(0, remaining), stream).unref();
    result.then(
      (response) => this.answerLater(stream, response),
      (err: unknown) => this.answerLater(stream, undefined, err),
    );
  }

  private readonly onDeadline = (stream: Stream): void => {
    stream.timer = undefined;
    if (this.dead || stream.closed) return;
    this.socket.cork();
    this.answerStatus(stream, status.DEADLINE_EXCEEDED, 'deadline exceeded');
    this.socket.uncork();
  };

  /** An asynchronous handler settled: answer, unless the stream was reset or timed out, or the connection closed. */
  private answerLater(stream: Stream, response: Buffer | undefined, err?: unknown): void {
    stream.inHandler = false;
    if (stream.closed) {
      this.abandoned--;
      return;
    }
    if (this.dead) return;
    this.socket.cork();
    if (response === undefined) this.answerError(stream, err);
    else this.answer(stream, response);
    this.socket.uncork();
  }

  private answerError(stream: Stream, err: unknown): void {
    const { code, details } = toServiceError(err, this.settings.log, stream.head.path);
    this.answerStatus(stream, code ?? status.INTERNAL, details ?? '');
  }

  private answer(stream: Stream, message: Buffer): void {
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(message.length, 1);
    this.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, stream.id, RESPONSE_HEADERS));
    stream.pendingData = Buffer.concat([prefix, message]);
    stream.pendingTrailers = OK_TRAILERS;
    this.flushStream(stream);
  }

  /** Trailers-only response (RFC: a gRPC error without a message). */
  private answerStatus(stream: Stream, code: number, message: string): void {
    const block = Buffer.concat([RESPONSE_HEADERS, literalHeaderField('grpc-status', String(code)), literalHeaderField('grpc-message', percentEncode(message))]);
    this.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, stream.id, block));
    this.finish(stream);
  }

  private answerHttp(stream: Stream, code: 405 | 415): void {
    const { headers, body } = HTTP_ANSWERS[code];
    if (stream.head.method === 'HEAD') {
      this.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, stream.id, headers));
      return this.finish(stream);
    }
    this.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS, stream.id, headers));
    stream.pendingData = body;
    this.flushStream(stream);
  }

  /**
   * Sends as much of the stream's response DATA as the windows and our write queue allow, then its
   * trailers (without trailers, the last DATA frame carries END_STREAM).
   */
  private flushStream(stream: Stream): void {
    let data = stream.pendingData!;
    while (data.length > 0) {
      if (this.socket.writableLength >= WRITE_HIGH_WATER) {
        this.writeBlocked = true;
        break;
      }
      const size = Math.min(data.length, this.sendWindow, stream.sendWindow, this.peerMaxFrameSize);
      if (size <= 0) break;
      const last = size === data.length && !stream.pendingTrailers;
      this.socket.write(encodeFrame(FrameType.DATA, last ? FrameFlag.END_STREAM : 0, stream.id, data.subarray(0, size)));
      this.sendWindow -= size;
      stream.sendWindow -= size;
      data = data.subarray(size);
    }
    stream.pendingData = data;
    if (data.length > 0) {
      if (!stream.waiting) this.waitingStreams++;
      stream.waiting = true;
      return;
    }
    if (stream.waiting) this.waitingStreams--;
    stream.waiting = false;
    if (stream.pendingTrailers) this.socket.write(encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, stream.id, stream.pendingTrailers));
    this.finish(stream);
  }

  private flushPending(): void {
    this.writeBlocked = false;
    if (this.waitingStreams === 0) return;
    for (const stream of this.streams.values()) if (stream.waiting) this.flushStream(stream);
  }

  private finish(stream: Stream): void {
    // Answered before the request ended: tell the client to stop sending (RFC 9113 §8.1).
    if (!stream.ended) {
      this.socket.write(encodeRstStream(stream.id, H2Error.NO_ERROR));
      this.ignore(stream.id);
    }
    this.closeStream(stream);
  }

  /** Stream error (RFC 9113 §5.4.2): RST_STREAM(code); the connection carries on. */
  private resetStream(stream: Stream, code: H2Error, reason: string): void {
    this.settings.log.warn({ reason, code, stream: stream.id }, 'resetting gRPC stream: the client broke the HTTP/2 protocol');
    this.refuse(stream.id, stream.ended, code);
    this.closeStream(stream);
  }

  /** RST_STREAM for a stream we do not (or no longer) serve; what the client already sent on it is ignored. */
  private refuse(streamId: number, ended: boolean, code: H2Error): void {
    this.writeOwed(encodeRstStream(streamId, code));
    if (!ended) this.ignore(streamId);
  }

  private ignore(streamId: number): void {
    this.ignored.add(streamId);
    if (this.ignored.size > this.settings.maxConcurrentStreams) this.ignored.delete(this.ignored.values().next().value!);
  }

  private closeStream(stream: Stream): void {
    this.streams.delete(stream.id);
    stream.closed = true;
    clearTimeout(stream.timer);
    if (stream.inHandler) this.abandoned++;
    if (stream.waiting) this.waitingStreams--;
    stream.waiting = false;
    stream.takeBody();
    this.release(stream.held);
    stream.held = 0;
    this.endIfIdle();
  }

  /** Connection error: GOAWAY with the reason, then close. */
  private fail(err: unknown): void {
    if (this.dead) return;
    const code = err instanceof ConnectionError ? err.code : H2Error.INTERNAL_ERROR;
    const reason = err instanceof Error ? err.message : String(err);
    if (!(err instanceof ConnectionError)) this.settings.log.error({ err }, 'gRPC connection failed unexpectedly');
    else this.settings.log.warn({ reason, code }, 'closing gRPC connection: the client broke the HTTP/2 protocol');
    this.dead = true;
    closeSoon(this.socket, this.prefaceSeen ? encodeGoaway(this.lastStreamId, code, reason) : undefined);
  }
}

/** Ends the socket (after `last`), and destroys it if the peer has not closed it within LINGER_MS. */
function closeSoon(socket: net.Socket, last?: Buffer): void {
  if (last) socket.end(last);
  else socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

function calm(reason: string): ConnectionError {
  return new ConnectionError(H2Error.ENHANCE_YOUR_CALM, reason);
}

function emptyFlood(): ConnectionError {
  return calm(`more than ${MAX_EMPTY_FRAMES} empty frames without a request`);
}

/**
 * Longest grpc-message sent, encoded: a trailers-only answer goes out as one HEADERS frame, which must fit the
 * smallest SETTINGS_MAX_FRAME_SIZE a client may set (16,384 octets, RFC 9113 4.2), whatever a message quotes
 * (an unknown method's path, for one).
 */
const MAX_GRPC_MESSAGE_OCTETS = 4096;
const TRUNCATED = ' [truncated]';

/** grpc-message encoding: UTF-8, with '%' and bytes outside printable ASCII as %XX (gRPC over HTTP/2 spec). */
function percentEncode(message: string): string {
  let out = '';
  for (const char of message) {
    let encoded = '';
    for (const byte of Buffer.from(char, 'utf8')) {
      encoded += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
    }
    // Cut at a whole character, so the client decodes valid UTF-8.
    if (out.length + encoded.length > MAX_GRPC_MESSAGE_OCTETS - TRUNCATED.length) return out + TRUNCATED;
    out += encoded;
  }
  return out;
}

function notHttp2(): ConnectionError {
  return new ConnectionError(
    H2Error.PROTOCOL_ERROR,
    'not an HTTP/2 client (no HTTP/2 connection preface); gRPC needs HTTP/2, e.g. an Envoy cluster with http2_protocol_options',
  );
}
