import { createHash, type Hash } from 'node:crypto';
import type { Logger } from 'pino';
import { MeshidError } from '../../core/errors.js';
import type { Secret } from '../../protos/gen/envoy/extensions/transport_sockets/tls/v3/Secret.js';
import type { DiscoveryRequest__Output } from '../../protos/gen/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse } from '../../protos/gen/envoy/service/discovery/v3/DiscoveryResponse.js';
import type { SdsMetrics } from './metrics.js';
import { packAny, SECRET_TYPE_URL } from './secrets.js';

export interface SdsStreamOptions {
  /** The secrets for these names; rejects with a MeshidError to refuse them. */
  resolve(names: readonly string[]): Promise<Secret[]>;
  send(response: DiscoveryResponse): void;
  /** Ends the stream with this error (the stream is closed afterwards). */
  fail(err: unknown): void;
  log: Logger;
  metrics: SdsMetrics;
}

/**
 * xDS state-of-the-world semantics for one StreamSecrets stream:
 * - every response carries a content-derived version_info and a fresh nonce;
 * - a request carrying the nonce of the response in flight ACKs it (no error_detail) or NACKs it
 *   (error_detail: logged, counted, and that same content is never sent again); requests with any other
 *   nonce are stale and ignored;
 * - at most one response is unacknowledged at a time: changes arriving meanwhile only mark the stream dirty
 *   and are coalesced into one response built from the latest state once the client answers;
 * - content equal to what the client already has is not sent again.
 */
export class SdsStream {
  private names: string[] | undefined;
  private inFlight: { nonce: string; version: string } | undefined;
  private sentVersion: string | undefined;
  private rejectedVersion: string | undefined;
  private dirty = false;
  /** A nonce-less request after the first asks for an answer even if nothing changed. */
  private answerRequested = false;
  private pumping = false;
  private closed = false;
  private nonces = 0;

  constructor(private readonly options: SdsStreamOptions) {}

  onRequest(request: DiscoveryRequest__Output): void {
    if (this.closed) return;
    const { log, metrics } = this.options;
    if (request.response_nonce !== '') {
      if (request.response_nonce !== this.inFlight?.nonce) {
        log.debug({ nonce: request.response_nonce }, 'ignoring SDS request with a stale nonce');
        return;
      }
      const answered = this.inFlight;
      this.inFlight = undefined;
      if (request.error_detail) {
        this.rejectedVersion = answered.version;
        metrics.nacks.inc();
        log.warn(
          { version: answered.version, names: this.names, error: request.error_detail.message },
          'Envoy rejected an SDS response (NACK); it keeps its previous secrets and this content is not resent',
        );
      }
    } else if (this.names !== undefined) {
      // A client that starts over without a nonce will not answer what is in flight: answer it afresh.
      this.inFlight = undefined;
      this.answerRequested = true;
      this.dirty = true;
    }
    if (!sameNames(this.names, request.resource_names)) {
      this.names = [...request.resource_names];
      this.dirty = true;
    }
    void this.pump();
  }

  /** Something the stream's secrets depend on changed (rotation, bundle). */
  onChange(): void {
    if (this.closed) return;
    this.dirty = true;
    void this.pump();
  }

  close(): void {
    this.closed = true;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.dirty && !this.inFlight && !this.closed && this.names) {
        this.dirty = false;
        const answer = this.answerRequested;
        this.answerRequested = false;
        let secrets: Secret[];
        try {
          secrets = await this.options.resolve(this.names);
        } catch (err) {
          this.onResolveError(err);
          continue;
        }
        if (this.closed) break;
        const version = versionOf(secrets);
        if (!answer && (version === this.sentVersion || version === this.rejectedVersion)) continue;
        // Envoy NACKs an empty SDS response; a resource that does not exist yet is simply not answered.
        if (secrets.length === 0) continue;
        this.send(secrets, version);
      }
    } finally {
      this.pumping = false;
    }
  }

  private send(secrets: Secret[], version: string): void {
    const nonce = String(++this.nonces);
    const initial = this.sentVersion === undefined;
    this.inFlight = { nonce, version };
    this.sentVersion = version;
    this.options.send({
      version_info: version,
      nonce,
      type_url: SECRET_TYPE_URL,
      resources: secrets.map((secret) => packAny(SECRET_TYPE_URL, secret)),
    });
    this.options.metrics.pushes.inc({ kind: initial ? 'initial' : 'update' });
  }

  /**
   * Before the first response, or when the request itself is refused (bad name, identity not held or no
   * longer held), the stream ends with the error so Envoy logs it. A transient failure later (the agent
   * cannot reach the CA) keeps the stream: Envoy keeps serving what it has and the next change is pushed.
   */
  private onResolveError(err: unknown): void {
    const transient = !(err instanceof MeshidError) || err.code === 'UNAVAILABLE' || err.code === 'INTERNAL';
    if (transient && this.sentVersion !== undefined) {
      this.options.log.warn({ err, names: this.names }, 'cannot refresh SDS secrets; the stream keeps its current ones');
      return;
    }
    this.closed = true;
    this.options.fail(err);
  }
}

function sameNames(current: readonly string[] | undefined, requested: readonly string[]): boolean {
  return current !== undefined && current.length === requested.length && current.every((name, i) => name === requested[i]);
}

/** A digest of the response content: equal content, equal version, across streams and restarts. */
export function versionOf(secrets: readonly Secret[]): string {
  const hash = createHash('sha256');
  feed(hash, secrets);
  return hash.digest('hex').slice(0, 20);
}

function feed(hash: Hash, value: unknown): void {
  if (Buffer.isBuffer(value)) {
    hash.update(`b${value.length}:`).update(value);
  } else if (Array.isArray(value)) {
    hash.update(`[${value.length}`);
    for (const item of value) feed(hash, item);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      hash.update(`{${key}=`);
      feed(hash, item);
    }
  } else {
    const text = String(value);
    hash.update(`s${text.length}:${text}`);
  }
}
