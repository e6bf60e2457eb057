import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import type { CaClient } from './ca-client.js';
import { timer } from './timing.js';

export interface CaStreamOptions<Message> {
  ca: CaClient;
  /** Opens the call on the client's current mTLS channel, e.g. `() => ca.watchPolicies()`. */
  open: () => ClientReadableStream<Message>;
  onMessage: (message: Message) => void;
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
 * SVID change (so it runs on the current mTLS channel) and, with backoff, whenever it breaks. What the
 * stream delivered stays with the caller through outages.
 */
export class CaStream<Message> {
  private stream: ClientReadableStream<Message> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly backoff: Backoff;

  constructor(private readonly options: CaStreamOptions<Message>) {
    this.backoff = new Backoff(options.backoff, options.random);
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
    stream?.cancel();
  }

  private open(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    const previous = this.stream;
    let stream: ClientReadableStream<Message>;
    try {
      stream = this.options.open();
    } catch (err) {
      this.retry(err as Error);
      return;
    }
    this.stream = stream;
    previous?.cancel();
    stream.on('data', (message: Message) => {
      if (this.backoff.failures > 0) this.options.log.info(`${this.options.name} from the CA restored`);
      this.backoff.reset();
      this.options.onMessage(message);
    });
    // 'error' must have a listener; 'status' ends every call, including cancelled ones.
    stream.on('error', () => undefined);
    stream.on('status', (status) => {
      if (stream === this.stream) this.retry(new Error(`${this.options.name} ended: ${status.details || `status ${status.code}`}`));
    });
  }

  private retry(err: Error): void {
    if (this.closed) return;
    this.stream = undefined;
    const first = this.backoff.failures === 0;
    const delay = this.backoff.next();
    // One warning per outage; the retries go to debug.
    this.options.log[first ? 'warn' : 'debug'](
      { error: err.message, retryInSeconds: Math.round(delay / 100) / 10 },
      `${this.options.name} from the CA broke; keeping what it delivered last`,
    );
    this.options.onError?.(err);
    this.retryTimer = timer(delay, () => this.open());
  }
}
