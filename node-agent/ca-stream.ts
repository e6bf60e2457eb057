import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import type { CaClient } from './ca-client.js';
import { timer } from './timing.js';

export interface CaStreamOptions<Message> {
  ca: CaClient;
  /** Opens the call on the client's current mTLS channel, e.g. `() => ca.watchPolicies()`. */
  open: () => ClientReadableStream<Message>;
  /** `address` is the CA address the stream runs to (the replica that sent the message). */
  onMessage: (message: Message, address: string) => void;
  /** The stream broke or could not be opened; it is reopened after a backoff delay. */
  onError?: (err: Error) => void;
  backoff: { initialMs: number; maxMs: number };
  log: Logger;
  /** Names the stream in log messages, e.g. "authorization policy stream". */
  name: string;
  random?: () => number;
}

/**
 * Follows one never-ending CA server stream: opened once the agent has an SVID, reopened on every agent
 * SVID change (so it runs on the current mTLS channel) and, with backoff, whenever it breaks. A stream whose
 * replica became unavailable reopens on the client's next CA address, after the same jittered delay, so the
 * agents of a failed replica do not all reconnect to the others at once. What the stream delivered stays
 * with the caller through outages.
 */
export class CaStream<Message> {
  private stream: ClientReadableStream<Message> | undefined;
  private delivered = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly backoff: Backoff;

  constructor(private readonly options: CaStreamOptions<Message>) {
    this.backoff = new Backoff(options.backoff, options.random);
  }

  /** True while the stream is open and has delivered a message: the CA's current state is arriving on it. */
  get delivering(): boolean {
    return this.delivered;
  }

  start(): void {
    this.unsubscribe = this.options.ca.onChannelChange(() => this.open());
    if (this.options.ca.hasIdentity()) this.open();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    clearTimeout(this.retryTimer);
    const stream = this.stream;
    this.stream = undefined;
    this.delivered = false;
    stream?.cancel();
  }

  private open(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    const previous = this.stream;
    const address = this.options.ca.address;
    let stream: ClientReadableStream<Message>;
    try {
      stream = this.options.open();
    } catch (err) {
      this.retry(err as Error, address);
      return;
    }
    this.stream = stream;
    this.delivered = false;
    previous?.cancel();
    stream.on('data', (message: Message) => {
      if (this.backoff.failures > 0) this.options.log.info({ ca: address }, `${this.options.name} from the CA restored`);
      this.backoff.reset();
      this.delivered = true;
      this.options.onMessage(message, address);
    });
    // 'error' must have a listener; 'status' ends every call, including cancelled ones.
    stream.on('error', () => undefined);
    stream.on('status', (status) => {
      if (stream === this.stream) this.retry(new Error(`${this.options.name} ended: ${status.details || `status ${status.code}`}`), address);
    });
  }

  private retry(err: Error, address: string): void {
    if (this.closed) return;
    this.stream = undefined;
    this.delivered = false;
    const first = this.backoff.failures === 0;
    const delay = this.backoff.next();
    // One warning per outage; the retries go to debug.
    this.options.log[first ? 'warn' : 'debug'](
      { error: err.message, ca: address, retryInSeconds: Math.round(delay / 100) / 10 },
      `${this.options.name} from the CA broke; keeping what it delivered last`,
    );
    this.options.onError?.(err);
    this.retryTimer = timer(delay, () => this.open());
  }
}
